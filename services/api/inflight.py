"""The per-process budget of request-body bytes being taken in at once.

A request reserves its Content-Length before a byte of its body is read (a
chunked body reserves as it arrives) and gives it back once the body is in.
Past the budget the request is refused at once with `Overloaded` (503 +
Retry-After), never queued: the client retries, most likely reaching another
worker, and this process never takes in more than it can hold. A request that
finds nothing else in flight is always admitted, so a budget below the largest
allowed body slows big uploads down to one at a time instead of refusing them.
"""

from __future__ import annotations

from aiohttp import web

from shared.errors import Overloaded

RETRY_AFTER = 1  # seconds: uploads in flight finish or move on quickly


class BodyBudget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    def reserve(self, size: int) -> Reservation:
        """Reserve `size` bytes (0 for a body of unknown length), or Overloaded."""
        self._check(size)
        self.in_flight += size
        return Reservation(self, size)

    def _check(self, more: int) -> None:
        if more and self.in_flight and self.in_flight + more > self.limit:
            raise Overloaded("request bodies in flight over server.max_inflight_body_bytes", RETRY_AFTER)


class Reservation:
    """Bytes one request holds in the budget until `release`."""

    __slots__ = ("_budget", "size")

    def __init__(self, budget: BodyBudget, size: int) -> None:
        self._budget = budget
        self.size = size

    def grow(self, more: int) -> None:
        """Count `more` bytes of a body whose length was not announced."""
        budget = self._budget
        if budget.in_flight > self.size:  # alone in flight: always admitted
            budget._check(more)
        budget.in_flight += more
        self.size += more

    def release(self) -> None:
        self._budget.in_flight -= self.size
        self.size = 0


BODY_BUDGET = web.AppKey("body_budget", BodyBudget)
