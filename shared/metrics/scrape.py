"""One scrape, from an event loop: the queue's figures read from Redis (I/O,
on the loop), then the text made in a thread of its own (CPU).

A thread started per scrape, not a pool's: the master forks children, and a
pool's idle threads would be alive at every fork; a scrape's thread is there
only while it runs (and touches no lock a child needs)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..log_throttle import LogThrottle
from ..logging import get_logger
from ..queue_status import queue_status
from .exposition import QueueFigures, render

T = TypeVar("T")

QUEUE_TIMEOUT = 1.0  # seconds Redis gets: a scrape without queue figures beats a scrape that times out

_warnings = LogThrottle(get_logger("metrics"))


async def queue_figures(redis: Redis) -> QueueFigures | None:
    try:
        async with asyncio.timeout(QUEUE_TIMEOUT):
            return QueueFigures.of(await queue_status(redis))
    except (RedisError, OSError, TimeoutError) as exc:
        _warnings.warning("metrics.queue_unavailable", error=f"{type(exc).__name__}: {exc}")
        return None


async def in_thread(fn: Callable[[], T]) -> T:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, exc: BaseException | None) -> None:
        if done.cancelled():
            return
        if exc is not None:
            done.set_exception(exc)
        else:
            done.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            outcome: tuple[T | None, BaseException | None] = (fn(), None)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            outcome = (None, exc)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (the process is leaving)
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=run, name="metrics scrape", daemon=True).start()
    return await done


async def scrape(directory: Path, redis: Redis | None) -> bytes:
    """The text of /metrics for this node."""
    queue = await queue_figures(redis) if redis is not None else None
    return await in_thread(lambda: render(directory, queue))
