"""The servers the API benchmark compares, each one process on uvloop:

    ours       the whole Files Manager app (create_app), settings from the environment
    bare       a bare aiohttp handler returning a constant JSON body, encoded once
    bare-json  the same with web.json_response of a constant dict (encoded per request)
"""

from __future__ import annotations

import asyncio
import sys

import orjson
import uvloop
from aiohttp import web

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))


def bare_app(kind: str) -> web.Application:
    body = b'{"id":"5f1e7d35c7ba06511e683b21","userId":"5f1e7d35c7ba06511e683b20","name":"a.txt","type":"file","isPublic":false,"parentId":0}'

    async def constant(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    document = orjson.loads(body)

    async def constant_json(request: web.Request) -> web.Response:
        return web.json_response(document)

    app = web.Application()
    app.router.add_get("/{tail:.*}", constant if kind == "bare" else constant_json)
    return app


def our_app() -> web.Application:
    from services.api.app import create_app
    from shared.config import load_settings
    from shared.logging import configure_logging

    settings = load_settings()
    configure_logging(settings.log)
    return create_app(settings)


async def serve_ours(port: int) -> None:
    """As an API worker serves (services/api/serve.py): its runner options (the
    request line) and its listener (the request-head timeout), until killed."""
    from services.api.edge import RUNNER_OPTIONS
    from services.api.serve import listen

    app = our_app()
    runner = web.AppRunner(app, handle_signals=False, **RUNNER_OPTIONS)
    await runner.setup()
    await listen(app, runner, host="127.0.0.1", port=port)
    await asyncio.Event().wait()


if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "ours":
        uvloop.run(serve_ours(port))
    else:
        web.run_app(bare_app(kind), host="127.0.0.1", port=port, print=None, loop=uvloop.new_event_loop(),
                    access_log=None)
