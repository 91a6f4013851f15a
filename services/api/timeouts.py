"""Closing connections of clients too slow to send a request head.

aiohttp (3.14) has a keep-alive timeout and no request-head timeout: a client
trickling a head, or opening a connection and sending nothing, holds it until
the keep-alive timeout. So each connection's protocol is wrapped here (public
asyncio API only: a protocol that forwards every call to aiohttp's own):

- a head starts when the connection opens, and again at the first byte that
  arrives while no request is being handled (the next request's head);
- the edge middleware calls `request_started` when aiohttp hands it a request,
  i.e. once the whole head has been parsed; the request counts as handled until
  the task aiohttp runs it in (handler and response writing) is done; bytes
  that come meanwhile after its whole body was taken (the client read the
  response and sent its next request before that task ended) start the next
  head then;
- one sweep per process, every quarter of the timeout (at most every second),
  closes the connections whose head started longer than `server.header_timeout`
  ago, however steadily it trickles in. A timer per request would cost every
  request a timer set and cancelled; the sweep costs each request two
  attribute writes, and closes a slow head within a quarter of the timeout
  of its deadline.

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


class HeadTimeouts:
    """The connections of one API worker, by transport, and their sweep."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.every = min(1.0, seconds / 4)
        self._guards: dict[asyncio.BaseTransport, _Guard] = {}
        self._sweep: asyncio.TimerHandle | None = None

    def protocol_factory(self, make_protocol: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """Wraps a protocol factory (aiohttp's `runner.server`) for `loop.create_server`."""
        return lambda: _Guard(self, make_protocol())

    def request_started(self, request: web.BaseRequest) -> None:
        """aiohttp has parsed `request`'s whole head (called by the edge
        middleware, in the task aiohttp runs this one request in)."""
        guard = self._guards.get(request.transport) if self._guards else None  # type: ignore[arg-type]
        if guard is not None:
            guard.head_since = None
            guard.task = asyncio.current_task()
            guard.body = request.content

    def _arrived(self, guard: _Guard, transport: asyncio.BaseTransport) -> None:
        self._guards[transport] = guard
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(self.every, self._sweep_now)

    def _left(self, transport: asyncio.BaseTransport) -> None:
        self._guards.pop(transport, None)

    def _sweep_now(self) -> None:
        self._sweep = None
        if not self._guards:
            return  # started again by the next connection
        loop = asyncio.get_running_loop()
        too_old = loop.time() - self.seconds
        for transport, guard in list(self._guards.items()):
            since = guard.waiting_since()
            if since is not None and since < too_old:
                transport.close()
        self._sweep = loop.call_later(self.every, self._sweep_now)


class _Guard(asyncio.Protocol):
    """aiohttp's protocol for one connection, plus when its pending head began.

    While a request is handled (`task` not done) no head is pending; bytes
    that arrive then, once its body is all in, are the next head: it began
    when they came. A finished task is noticed lazily (the next bytes, the
    sweep), which costs a request nothing."""

    __slots__ = ("_inner", "_loop", "_next_head_since", "_registry", "_transport", "body", "head_since", "task")

    def __init__(self, registry: HeadTimeouts, inner: asyncio.Protocol) -> None:
        self._registry = registry
        self._inner = inner
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.BaseTransport | None = None
        self.head_since: float | None = None  # loop time the pending head began; None: none pending
        self.task: asyncio.Task[Any] | None = None  # the request being handled
        self.body: Any = None  # its body stream
        self._next_head_since: float | None = None  # bytes came after that body ended

    def waiting_since(self) -> float | None:
        """When the pending head began, or None while a request is handled or
        the connection idles between requests."""
        task = self.task
        if task is not None:
            if not task.done():
                return None
            self.task = self.body = None
            self.head_since, self._next_head_since = self._next_head_since, None
        return self.head_since

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self.head_since = self._loop.time()
        self._registry._arrived(self, transport)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        task = self.task
        if task is not None and not task.done():
            if self._next_head_since is None and self.body is not None and self.body.is_eof():
                self._next_head_since = self._loop.time()
        elif self.waiting_since() is None:
            self.head_since = self._loop.time()
        self._inner.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._registry._left(self._transport)
            self._transport = None
        self._inner.connection_lost(exc)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


HEAD_TIMEOUTS = web.AppKey("head_timeouts", HeadTimeouts)
