"""What every part of a job worker shares about its life: whether it is
stopping, by when the jobs in hand must be done, and how to wait out Redis."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.log_throttle import LogThrottle

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)

T = TypeVar("T")


class Control:
    """The stop flag and deadline, set from anywhere (a signal handler, another
    thread), and the waits that a stop cuts short."""

    def __init__(self, log: Any, graceful_timeout: float) -> None:
        self.log = log  # replaced by a concrete bound logger at start
        self.graceful_timeout = graceful_timeout
        self.stopping = False
        self.deadline: float | None = None
        self.stopped = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_stop: list[Callable[[bool, float], None]] = []

    @property
    def log(self) -> Any:
        return self._log

    @log.setter
    def log(self, log: Any) -> None:
        self._log = log
        # Redis down makes every loop of the worker fail alike: one line per
        # interval and kind of error, with a count (shared/log_throttle.py).
        self._redis_errors = LogThrottle(log)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop `stop` wakes; a stop asked before this is honoured now."""
        self._loop = loop
        if self.stopping:
            self.stopped.set()

    def on_stop(self, callback: Callable[[bool, float], None]) -> None:
        """`callback(first, timeout)` runs on the loop at each stop()."""
        self._on_stop.append(callback)

    def stop(self, timeout: float | None = None) -> None:
        """Stop reading; jobs in hand get `timeout` seconds (default: the
        graceful timeout). Idempotent (a later call may only shorten the
        deadline) and safe from a signal handler or another thread."""
        if timeout is None:
            timeout = self.graceful_timeout
        deadline = time.monotonic() + timeout
        first = not self.stopping
        self.stopping = True
        if self.deadline is None or deadline < self.deadline:
            self.deadline = deadline
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopped, first, timeout)

    def _stopped(self, first: bool, timeout: float) -> None:
        self.stopped.set()
        for callback in self._on_stop:
            callback(first, timeout)

    def time_left(self) -> float:
        """Seconds until the deadline (negative past it; 0 before any stop)."""
        return (self.deadline or time.monotonic()) - time.monotonic()

    async def nap(self, seconds: float) -> None:
        """Sleep `seconds`, or less if a stop comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopped.wait(), seconds)

    async def repeat(self, every: float, work: Callable[[], Awaitable[object]], what: str) -> None:
        """`work` now, then every `every` seconds (0: never), until stop. A
        failure is logged (`<what>.failed`) and tried again at the next turn."""
        if not every:
            return
        while not self.stopping:
            try:
                await work()
            except Exception as exc:  # noqa: BLE001 - never fatal: the next turn tries again
                self.log.error(f"{what}.failed", error=f"{type(exc).__name__}: {exc}")
            await self.nap(every)

    async def redis_trouble(self, what: str, exc: BaseException) -> None:
        """Redis is unreachable: log and wait a little (never a busy loop; a
        stop cuts the wait short, but not to nothing)."""
        self._redis_errors.error("worker.redis_error", kind=type(exc).__name__, during=what,
                                 error=f"{type(exc).__name__}: {exc}")
        if self.stopping:
            await asyncio.sleep(0.1)
        else:
            await self.nap(0.5)

    async def retrying(self, call: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T | None:
        """`call` until Redis answers; None once stopping."""
        while not self.stopping:
            try:
                return await call(*args, **kwargs)
            except REDIS_DOWN as exc:
                await self.redis_trouble("recover", exc)
        return None
