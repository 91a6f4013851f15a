"""Servers for the download benchmark: one process serving one file.

    python bench/download_servers.py KIND PATH PORT
    KIND: ours-uvloop (ZeroCopyFileResponse on uvloop), aiohttp-uvloop
          (FileResponse on uvloop: chunked fallback), aiohttp-asyncio
          (FileResponse on the plain loop: loop.sendfile)
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvloop
from aiohttp import web

from services.api.sendfile import ZeroCopyFileResponse

if __name__ == "__main__":
    kind, path, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cls = ZeroCopyFileResponse if kind.startswith("ours") else web.FileResponse

    async def handler(request: web.Request) -> web.StreamResponse:
        return cls(path, headers={"Content-Type": "application/octet-stream"})

    app = web.Application()
    app.router.add_get("/f", handler)
    loop = uvloop.new_event_loop() if kind.endswith("uvloop") else asyncio.new_event_loop()
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, loop=loop)
