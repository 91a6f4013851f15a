"""structlog set-up: one line per event, JSON off a terminal, console on one.

The standard library's loggers (aiohttp, asyncio, pymongo) go through the same
renderer, so every line of a process has one format.
"""

from __future__ import annotations

import logging
import sys

import orjson
import structlog

from .config import LogSettings


def _renderer(fmt: str):
    if fmt == "auto":
        fmt = "console" if sys.stdout.isatty() else "json"
    if fmt == "console":
        return structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())
    return structlog.processors.JSONRenderer(serializer=_dumps)


def _dumps(obj, default=None, **_: object) -> str:
    # orjson: a request line is rendered on every request, json.dumps costs 3x more.
    return orjson.dumps(obj, default=default).decode()


def configure_logging(settings: LogSettings, *, cache: bool = True, **context: object) -> None:
    """Configure structlog and stdlib logging for this process. `context`
    (e.g. role="api", worker=2) is bound to every line. `cache=False` looks
    up sys.stdout at every call (tests that capture output need that)."""
    level = getattr(logging, settings.level.upper())
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = _renderer(settings.format)
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=cache,
    )
    structlog.contextvars.clear_contextvars()
    if context:
        structlog.contextvars.bind_contextvars(**context)

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(level, logging.INFO) if level < logging.WARNING else level)
    # aiohttp's access log would duplicate our request line (and could show tokens in URLs).
    logging.getLogger("aiohttp.access").disabled = True


def get_logger(name: str | None = None, **context: object):
    return structlog.get_logger(name, **context)
