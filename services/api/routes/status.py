"""GET /status and GET /stats."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ..keys import REDIS, STORAGE
from ..views import json_response

routes = web.RouteTableDef()

_PING_TIMEOUT = 1.0


async def _answers(probe) -> bool:
    # asyncio.timeout, not wait_for/gather: no task per probe on a hot health check.
    try:
        async with asyncio.timeout(_PING_TIMEOUT):
            return bool(await probe)
    except Exception:  # noqa: BLE001 - any failure means "does not answer right now"
        return False


@routes.get("/status")
async def status(request: web.Request) -> web.Response:
    """Always 200, so a load balancer can read which backend is down."""
    redis_ok = await _answers(request.app[REDIS].ping())
    db_ok = await _answers(request.app[STORAGE].ping())
    return json_response({"redis": redis_ok, "db": db_ok})


@routes.get("/stats")
async def stats(request: web.Request) -> web.Response:
    storage = request.app[STORAGE]
    users, files = await asyncio.gather(storage.count_users(), storage.count_files())
    return json_response({"users": users, "files": files})
