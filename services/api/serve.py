"""An API worker child: the aiohttp app on the socket the master bound, under grace.

Stopping is done in three beats so no accepted request is dropped:
1. stop accepting (the listening socket stays open in the master and the other
   workers, so new connections go there);
2. lame duck: every response now carries `Connection: close`, so a keep-alive
   client's next request is answered and it reconnects elsewhere, instead of
   racing our close of its idle connection;
3. aiohttp's own shutdown: idle connections closed, in-flight requests (a long
   download too) given `server.shutdown_timeout`, then the app's cleanup
   (storage and Redis clients closed).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from aiohttp import web

from shared.grace import Grace
from shared.logging import get_logger
from shared.supervision.child import ChildContext, run_child
from shared.supervision.recycle import request_limit, watch_requests

from .app import create_app
from .edge import RUNNER_OPTIONS
from .keys import DRAIN, ERROR_REPORTER
from .timeouts import HEAD_TIMEOUTS

log = get_logger("api")

# Longest time a keep-alive connection gets to send its next request once we
# drain; a busy client sends within milliseconds, an idle one is closed after.
LAME_DUCK = 1.0
_POLL = 0.02
_BACKLOG = 128  # as aiohttp's SockSite: listen() is called again on the shared socket


def _accept_pending(sock: socket.socket) -> list[socket.socket]:
    taken: list[socket.socket] = []
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:  # BlockingIOError: the queue is empty
            return taken
        conn.setblocking(False)
        taken.append(conn)


async def listen(app: web.Application, runner: web.AppRunner, **where: Any) -> asyncio.AbstractServer:
    """Serve `app` (its `runner` set up) on `where` (`sock=...`, or `host=`
    and `port=`), each connection's protocol wrapped for the request-head
    timeout: how every API worker listens, and what the benchmarks measure."""
    assert runner.server is not None, "runner.setup() first"
    protocol = app[HEAD_TIMEOUTS].protocol_factory(runner.server)
    return await asyncio.get_running_loop().create_server(protocol, backlog=_BACKLOG, **where)


def run_api_worker(ctx: ChildContext) -> int:
    """The child target the master forks."""
    return run_child(ctx, serve)


async def serve(grace: Grace, ctx: ChildContext) -> None:
    settings = ctx.settings
    assert ctx.sock is not None, "an API worker needs the master's listening socket"
    sock = ctx.sock
    app = create_app(settings)
    # A request's exception is contained: reported once through grace's error
    # hooks (the child logs it with its traceback), and the worker goes on serving.
    app[ERROR_REPORTER] = lambda exc, **context: grace.report(exc, where="request", **context)
    runner = web.AppRunner(app, handle_signals=False, **RUNNER_OPTIONS,  # the request line
                           shutdown_timeout=settings.server.shutdown_timeout,
                           keepalive_timeout=settings.server.keepalive_timeout)
    await runner.setup()
    loop = asyncio.get_running_loop()
    listening: asyncio.AbstractServer | None = None

    async def stop(time_left: float) -> None:
        app[DRAIN].active = True  # answers now say Connection: close (edge middleware)
        if listening is not None:
            listening.close()
        # Connections the kernel queued but nobody accepted yet would be reset
        # when the socket closes: take them (they get a `Connection: close`
        # answer like the others), then close our copy at once (uvloop served a
        # duplicate fd), so the kernel queues nothing more for us.
        pending = _accept_pending(sock)
        sock.close()
        server = runner.server
        assert server is not None
        protocol = app[HEAD_TIMEOUTS].protocol_factory(server)
        for conn in pending:
            await loop.connect_accepted_socket(protocol, conn)
        deadline = loop.time() + min(LAME_DUCK, time_left / 2)
        while server.connections and loop.time() < deadline:
            await asyncio.sleep(_POLL)
        await runner.cleanup()
        if pending:
            log.info("drain.adopted", connections=len(pending))

    grace.on_shutdown(stop)
    listening = await listen(app, runner, sock=sock)
    limit = request_limit(settings.server)
    if limit is not None:  # aiohttp counts the requests: no work per request here
        server = runner.server
        assert server is not None
        grace.spawn(watch_requests(lambda: server.requests_count, limit, ctx.beacon.recycle,
                                   lambda: grace.stopping), name="recycle")
