"""v2 files: lists and search, one file with its path, rename/move/publish, trash, restore, purge."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
