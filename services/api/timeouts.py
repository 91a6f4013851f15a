"""Closing connections of clients too slow to send a request head.

aiohttp (3.14) has a keep-alive timeout and no request-head timeout: a client
trickling a head, or opening a connection and sending nothing, holds it until
the keep-alive timeout. So each connection's protocol is wrapped here (public
asyncio API only: a protocol that forwards every call to aiohttp's own):

- a timer starts when the connection opens, and again at the first byte that
  arrives while no request is being handled (the next request's head);
- the app's middleware stops it when aiohttp hands it a request, i.e. once the
  whole head has been parsed; the request counts as handled until the task
  aiohttp runs it in (handler and response writing) is done; bytes that come
  meanwhile after its whole body was taken (the client read the response and
  sent its next request before that task ended) start the timer then;
- if it fires first, the connection is closed: `server.header_timeout` for the
  whole head, however steadily it trickles in.

A head whose first bytes arrive while the previous response is still being
written is bounded by aiohttp's keep-alive timeout instead (set from
`server.keepalive_timeout`, which also closes idle connections). Bodies have
their own timeout where they are read (bodies.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler


class HeadTimeouts:
    """The connections of one API worker, by transport."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._guards: dict[asyncio.BaseTransport, _Guard] = {}

    def protocol_factory(self, make_protocol: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """Wraps a protocol factory (aiohttp's `runner.server`) for `loop.create_server`."""
        return lambda: _Guard(self, make_protocol())

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        guard = self._guards.get(request.transport) if self._guards else None  # type: ignore[arg-type]
        if guard is not None:
            guard.request_started(asyncio.current_task(), request.content)
        return await handler(request)


class _Guard(asyncio.Protocol):
    """aiohttp's protocol for one connection, plus the head timer."""

    def __init__(self, registry: HeadTimeouts, inner: asyncio.Protocol) -> None:
        self._registry = registry
        self._inner = inner
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._busy = False
        self._body: Any = None  # the request's body stream while it is handled
        self._next_head = False  # bytes arrived after that body ended

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._registry._guards[transport] = self
        self._start_timer()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._busy:
            if self._body is not None and self._body.is_eof():
                self._next_head = True
        elif self._timer is None:
            self._start_timer()
        self._inner.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        if self._transport is not None:
            self._registry._guards.pop(self._transport, None)
            self._transport = None
        self._inner.connection_lost(exc)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def request_started(self, task: asyncio.Task[Any] | None, body: Any) -> None:
        self._stop_timer()
        if task is None:
            return
        self._busy = True
        self._body = body
        task.add_done_callback(self._request_done)

    def _request_done(self, _: object) -> None:
        self._busy = False
        self._body = None
        if self._next_head and self._timer is None and self._transport is not None:
            self._start_timer()
        self._next_head = False

    def _start_timer(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._registry.seconds, self._expired)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if not self._busy and self._transport is not None:
            self._transport.close()


HEAD_TIMEOUTS = web.AppKey("head_timeouts", HeadTimeouts)
