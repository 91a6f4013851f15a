"""Share links of a file: POST/GET /v2/files/:id/links, DELETE /v2/links/:id."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
