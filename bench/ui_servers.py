"""The servers the web UI paint benchmark compares, each one process on uvloop:

    ours <web root> <port>    the whole Files Manager app (create_app, an API worker's runner options
                              and listener), serving the web app from <web root> (web/ or a variant of it)
    static <folder> <port>    a bare aiohttp static handler: <folder>/index.html at /,
                              <folder>/app/index.html at /app/, files below it; the peers' server
                              when nginx cannot be installed
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import uvloop
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


async def serve_ours(root: Path, port: int) -> None:
    from bench.api_servers import our_app
    from services.api.edge import RUNNER_OPTIONS
    from services.api.keys import UI_ASSETS
    from services.api.serve import listen
    from services.api.ui_assets import UiAssets

    app = our_app()

    async def assets_from_root(app: web.Application) -> AsyncIterator[None]:
        app[UI_ASSETS] = await asyncio.to_thread(UiAssets.load, root)  # after create_app's own, in its place
        yield

    app.cleanup_ctx.append(assets_from_root)
    runner = web.AppRunner(app, handle_signals=False, **RUNNER_OPTIONS)
    await runner.setup()
    await listen(app, runner, host="127.0.0.1", port=port)
    await asyncio.Event().wait()


def static_app(folder: Path) -> web.Application:
    """<folder>/index.html at /, <folder>/app/index.html at /app/ (no-cache), the other files immutable."""
    async def page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(folder / request.path.lstrip("/") / "index.html", headers={"Cache-Control": "no-cache"})

    @web.middleware
    async def immutable(request: web.Request, handler):
        answer = await handler(request)
        answer.headers.setdefault("Cache-Control", "public, max-age=31536000, immutable")
        return answer

    app = web.Application(middlewares=[immutable])
    app.router.add_get("/", page)
    app.router.add_get("/app/", page)
    app.router.add_static("/", folder)
    return app


if __name__ == "__main__":
    kind, root, port = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    if kind == "ours":
        uvloop.run(serve_ours(root, port))
    else:
        web.run_app(static_app(root), host="127.0.0.1", port=port, print=None, loop=uvloop.new_event_loop(),
                    access_log=None)
