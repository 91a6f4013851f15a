"""The app gunicorn serves in bench/supervisor_bench.py: the same create_app our
API workers run, built per worker from the same environment (aiohttp's gunicorn
worker awaits an async factory), with the same runner options (the request line
is written by the runner's access logger) and gunicorn's keep-alive and
graceful timeout, as its worker would set them."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web


async def app() -> web.AppRunner:
    from services.api.app import create_app
    from services.api.edge import RUNNER_OPTIONS
    from shared.config import load_settings
    from shared.logging import configure_logging

    settings = load_settings()
    configure_logging(settings.log, role="api")
    return web.AppRunner(create_app(settings), **RUNNER_OPTIONS, keepalive_timeout=2,
                         shutdown_timeout=settings.supervisor.graceful_timeout * 0.95)
