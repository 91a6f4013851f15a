"""Repeated warnings folded into one line per interval.

A backend that is down makes every request (or every poll of a worker) fail
the same way: one warning each is tens of thousands of lines in seconds, which
buries everything else and costs the service its throughput. A LogThrottle
writes the first occurrence of an (event, kind) at once, then folds the ones
that follow within `interval` seconds into a single line written when the
interval is up, carrying `count` (how many occurrences that line stands for)
and the fields of the latest one. A key quiet for a whole interval starts over:
its next occurrence is written at once again.

Every line written through a throttle has `count` (1 for the first), so the
total number of occurrences is the sum of `count` over the lines.

Inside an event loop the folded line goes out on a timer at the end of the
interval; outside one (threads, scripts) it goes out with the next occurrence
after the interval, and `flush()` (called by `shared.logging.flush_logs`, so
at every process's exit) writes whatever is still held.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_INTERVAL = 10.0

_live: weakref.WeakSet[LogThrottle] = weakref.WeakSet()


@dataclass
class _Window:
    ends: float
    count: int = 0  # occurrences folded since the last line
    fields: dict[str, Any] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None


class LogThrottle:
    """`throttle.warning("backend.unavailable", kind="ConnectionError", error=...)`:
    at most one line per (event, kind) and `interval`, the first at once."""

    def __init__(self, logger: Any, interval: float = DEFAULT_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self.interval = interval
        self._clock = clock
        self._windows: dict[tuple[str, str, str], _Window] = {}
        _live.add(self)

    def warning(self, event: str, *, kind: str = "", **fields: Any) -> None:
        self.log("warning", event, kind=kind, **fields)

    def error(self, event: str, *, kind: str = "", **fields: Any) -> None:
        self.log("error", event, kind=kind, **fields)

    def log(self, level: str, event: str, *, kind: str = "", **fields: Any) -> None:
        key = (level, event, kind)
        now = self._clock()
        window = self._windows.get(key)
        if window is not None and now >= window.ends:  # its timer did not run (no loop)
            self._close(key)
            window = self._windows.get(key)
        if window is None:  # quiet until now: this one goes out at once
            self._write(key, fields, 1)
            self._open(key, now)
            return
        window.count += 1
        window.fields = fields

    def flush(self) -> None:
        """Write every folded count still held (at shutdown)."""
        for key, window in list(self._windows.items()):
            if window.timer is not None:
                window.timer.cancel()
            if window.count:
                self._write(key, window.fields, window.count)
        self._windows.clear()

    def _open(self, key: tuple[str, str, str], now: float) -> None:
        window = self._windows[key] = _Window(ends=now + self.interval)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        window.timer = loop.call_later(self.interval, self._close, key)

    def _close(self, key: tuple[str, str, str]) -> None:
        """The interval is up: one line for what was folded (then a new interval
        starts, the outage goes on), or nothing and the key is quiet again."""
        window = self._windows.pop(key, None)
        if window is None:
            return
        if window.timer is not None:
            window.timer.cancel()
        if window.count:
            self._write(key, window.fields, window.count)
            self._open(key, self._clock())

    def _write(self, key: tuple[str, str, str], fields: dict[str, Any], count: int) -> None:
        level, event, kind = key
        extra: dict[str, Any] = {"kind": kind} if kind else {}
        if count > 1:
            extra["interval_s"] = self.interval
        getattr(self._logger, level)(event, **fields, **extra, count=count)


def flush_throttles() -> None:
    for throttle in list(_live):
        throttle.flush()
