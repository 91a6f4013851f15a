"""Public share links: GET/POST /s/<token>[/<fileId>]."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
