"""GET /status and GET /stats."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ..keys import REDIS, STORAGE
from ..views import json_response
from .health import answers_within

routes = web.RouteTableDef()

_PING_TIMEOUT = 1.0


@routes.get("/status")
async def status(request: web.Request) -> web.Response:
    """Always 200, so a load balancer can read which backend is down."""
    redis_ok = await answers_within(request.app[REDIS].ping(), _PING_TIMEOUT)
    db_ok = await answers_within(request.app[STORAGE].ping(), _PING_TIMEOUT)
    return json_response({"redis": redis_ok, "db": db_ok})


@routes.get("/stats")
async def stats(request: web.Request) -> web.Response:
    storage = request.app[STORAGE]
    users, files = await asyncio.gather(storage.count_users(), storage.count_files())
    return json_response({"users": users, "files": files})
