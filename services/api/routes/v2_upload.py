"""v2 content: POST /v2/files (a folder as JSON, files as multipart), PUT and GET /v2/files/:id/content."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
