"""v2 accounts: POST /v2/users, /v2/sessions, GET /v2/users/me, PUT /v2/users/me/password."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
