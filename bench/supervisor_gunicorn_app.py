"""The app gunicorn serves in bench/supervisor_bench.py: the same create_app our
API workers run, built per worker from the same environment (aiohttp's gunicorn
worker awaits an async factory)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web


async def app() -> web.Application:
    from services.api.app import create_app
    from shared.config import load_settings
    from shared.logging import configure_logging

    settings = load_settings()
    configure_logging(settings.log, role="api")
    return create_app(settings)
