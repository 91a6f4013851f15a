"""Resumable uploads: tus 1.0.0 at /v2/uploads."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
