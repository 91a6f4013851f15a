"""`metrics.port`: /metrics served by the master itself on metrics.host
(127.0.0.1 by default), without a token: whoever reaches that address may read.

Bound before any child exists (a port in use fails the start, as the main
port does), with SO_REUSEPORT so that the new master of an upgrade (SIGUSR2)
can bind it while the old one still serves. A forked child closes its copy at
once (an at-fork hook), and every answer closes its connection: a child
forked mid-scrape would otherwise keep that connection open after the master
is done with it."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from aiohttp import web

from ..config import MetricsSettings, Settings
from ..grace import Grace
from ..logging import get_logger
from ..redis_client import open_redis
from .exposition import CONTENT_TYPE
from .scrape import scrape

log = get_logger("metrics")


def bind_metrics(settings: MetricsSettings) -> socket.socket | None:
    """The metrics port's socket (OSError when it cannot be had), None when metrics.port is 0."""
    if not settings.port:
        return None
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((settings.host, settings.port))
        sock.listen(64)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    _close_in_children(sock)
    return sock


def _close_in_children(sock: socket.socket) -> None:
    master = os.getpid()

    def close() -> None:
        if os.getpid() != master and sock.fileno() >= 0:
            os.close(sock.detach())

    os.register_at_fork(after_in_child=close)


class MetricsServer:
    """The master's tiny HTTP server: GET /metrics, nothing else."""

    def __init__(self, sock: socket.socket, directory: Path, settings: Settings) -> None:
        self._sock = sock
        self._directory = directory
        self._redis_url = settings.redis.url
        self._runner: web.AppRunner | None = None

    def serve_with(self, grace: Grace) -> None:
        """Start with the master (before its children) and stop after them."""

        async def start() -> None:
            await self.start()
            grace.on_shutdown(self.stop)  # registered now: runs after the master's own (children first)

        grace.on_start(start)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        await web.SockSite(runner, self._sock).start()
        host, port = self._sock.getsockname()[:2]
        log.info("metrics.listening", host=host, port=port)

    async def stop(self, time_left: float = 0.0) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        # A connection per scrape (every 15 s or so): the master keeps no Redis
        # connection that every child forked meanwhile would inherit.
        redis = open_redis(self._redis_url)
        try:
            body = await scrape(self._directory, redis)
        finally:
            await redis.aclose()
        response = web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
        response.force_close()
        return response
