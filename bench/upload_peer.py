"""The peer of the upload benchmarks: a bare aiohttp handler (uvloop).

    python bench/upload_peer.py [FOLDER] PORT

POST /files reads the body chunk by chunk and throws it away (upload_memory.py);
POST /stream (with FOLDER) writes it, as it arrives, to a new file in FOLDER,
fsynced once complete (upload_bench.py: the Python ceiling for a streamed upload).
"""

from __future__ import annotations

import os
import sys
import uuid

import uvloop
from aiohttp import web

FOLDER = sys.argv[1] if len(sys.argv) > 2 else None


async def upload(request: web.Request) -> web.Response:
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
    return web.json_response({"received": size}, status=201)


async def stream(request: web.Request) -> web.Response:
    assert FOLDER is not None
    size = 0
    with open(os.path.join(FOLDER, uuid.uuid4().hex), "wb") as fh:
        async for chunk in request.content.iter_any():
            fh.write(chunk)
            size += len(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    return web.json_response({"received": size}, status=201)


async def status(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


if __name__ == "__main__":
    app = web.Application(client_max_size=1 << 30)
    app.router.add_post("/files", upload)
    app.router.add_post("/stream", stream)
    app.router.add_get("/status", status)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[-1]), print=None, access_log=None,
                loop=uvloop.new_event_loop())
