"""Restart policy: exponential backoff per child slot, crash-loop detection overall."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

FIRST_DELAY = 0.1
MAX_DELAY = 10.0
# A child that ran this long was healthy: its slot's backoff starts over.
STABLE_AFTER = 10.0


@dataclass
class Backoff:
    """0 for a first crash after a healthy run (replace at once), then 0.1 s doubling to a cap."""

    next_delay: float = 0.0

    def after_crash(self, ran_for: float) -> float:
        if ran_for >= STABLE_AFTER:
            self.next_delay = 0.0
        delay = self.next_delay
        self.next_delay = min(MAX_DELAY, max(FIRST_DELAY, delay * 2))
        return delay


@dataclass
class CrashWindow:
    """More than `limit` crashes within `window` seconds is a crash loop."""

    limit: int
    window: float
    _times: deque[float] = field(default_factory=deque)

    def record(self, now: float) -> bool:
        """Record a crash at `now`; True when that makes a crash loop."""
        self._times.append(now)
        while self._times and now - self._times[0] > self.window:
            self._times.popleft()
        return len(self._times) > self.limit
