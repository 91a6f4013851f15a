"""GETs pipelined on one dedicated Redis connection: the token look-up of
every authenticated request.

Redis answers a connection's commands in order, so a FIFO of futures is all
the bookkeeping needed: a look-up costs one write and one callback, where
redis-py's pool costs a checkout, a lock and a timeout per command (about five
times the CPU here, more than a whole bare aiohttp request; see bench/README.md).
Everything else keeps using redis-py. Failures raise redis-py's exceptions, so
callers and the API's error middleware treat both clients alike.
"""

from __future__ import annotations

import asyncio
import collections
import time

import hiredis
from redis.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


def _command(*parts: bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiters: collections.deque[tuple[asyncio.Future, float]] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.lost: BaseException | None = None
        # Commands issued in one loop iteration leave in one write (auto-pipelining):
        # under load many requests ask at once, and a syscall per GET would dominate.
        self.outgoing: list[bytes] = []

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            waiter, _ = self.waiters.popleft()
            if waiter.done():  # its caller gave up (cancelled); the reply is dropped in order
                continue
            if isinstance(reply, hiredis.ReplyError):
                waiter.set_exception(ResponseError(str(reply)))
            else:
                waiter.set_result(reply)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost = RedisConnectionError(f"connection to Redis lost: {exc or 'closed'}")
        while self.waiters:
            waiter, _ = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(self.lost)

    def send(self, payload: bytes) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self.waiters.append((waiter, time.monotonic()))
        if not self.outgoing:
            loop.call_soon(self.flush)
        self.outgoing.append(payload)
        return waiter

    def flush(self) -> None:
        payload, self.outgoing = b"".join(self.outgoing), []
        if self.lost is None and self.transport is not None:
            self.transport.write(payload)


class PipelinedGet:
    """`await get(key)` -> bytes or None, many in flight on one connection.

    A reply slower than `timeout` seconds means the connection is stuck: it is
    aborted, every waiter fails with TimeoutError, the next call reconnects.
    """

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        params = parse_url(url)
        if "path" in params or url.startswith("rediss://"):
            raise ValueError("PipelinedGet speaks plain TCP only")
        self._host = params.get("host", "localhost")
        self._port = int(params.get("port", 6379))
        self._setup: list[bytes] = []
        if params.get("password"):
            auth = [params["username"]] if params.get("username") else []
            self._setup.append(_command(b"AUTH", *(p.encode() for p in auth), params["password"].encode()))
        if params.get("db"):
            self._setup.append(_command(b"SELECT", str(params["db"]).encode()))
        self._timeout = timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None
        self._watchdog: asyncio.TimerHandle | None = None

    @staticmethod
    def supports(url: str) -> bool:
        return url.startswith("redis://")

    async def _connect(self) -> _Protocol:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._protocol is not None and self._protocol.lost is None:
                return self._protocol
            loop = asyncio.get_running_loop()
            try:
                _, protocol = await asyncio.wait_for(
                    loop.create_connection(_Protocol, self._host, self._port), self._timeout
                )
            except (OSError, asyncio.TimeoutError) as exc:
                raise RedisConnectionError(f"cannot connect to Redis at {self._host}:{self._port}: {exc}") from None
            try:
                for command in self._setup:
                    await asyncio.wait_for(protocol.send(command), self._timeout)
            except BaseException:
                protocol.transport.abort()
                raise
            self._protocol = protocol
            return protocol

    def _check_stuck(self) -> None:
        self._watchdog = None
        protocol = self._protocol
        if protocol is None or not protocol.waiters:
            return
        if time.monotonic() - protocol.waiters[0][1] > self._timeout:
            stuck = RedisTimeoutError(f"Redis did not answer within {self._timeout} s")
            while protocol.waiters:
                waiter, _ = protocol.waiters.popleft()
                if not waiter.done():
                    waiter.set_exception(stuck)
            protocol.lost = stuck
            protocol.transport.abort()
            return
        self._arm_watchdog()

    def _arm_watchdog(self) -> None:
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().call_later(self._timeout / 2, self._check_stuck)

    async def get(self, key: str) -> bytes | None:
        protocol = self._protocol
        if protocol is None or protocol.lost is not None:
            protocol = await self._connect()
        waiter = protocol.send(_command(b"GET", key.encode("utf-8", "replace")))
        self._arm_watchdog()
        return await waiter

    async def aclose(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None
