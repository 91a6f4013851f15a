"""The peer of the upload benchmark: a bare aiohttp handler (uvloop) that
reads a request body chunk by chunk and throws it away.

    python bench/upload_peer.py PORT
"""

from __future__ import annotations

import sys

import uvloop
from aiohttp import web


async def upload(request: web.Request) -> web.Response:
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
    return web.json_response({"received": size}, status=201)


async def status(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


if __name__ == "__main__":
    app = web.Application(client_max_size=1 << 30)
    app.router.add_post("/files", upload)
    app.router.add_get("/status", status)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None,
                loop=uvloop.new_event_loop())
