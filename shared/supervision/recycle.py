"""Recycling API workers: `server.max_requests` (+ jitter) and `server.max_memory`.

gunicorn's max_requests with its gap closed: gunicorn's worker exits and the
arbiter forks a replacement afterwards, so the slot serves nobody meanwhile.
Here the master forks the successor into the same slot first and asks the old
worker to drain (SIGTERM) only once the successor is ready. A successor that
dies or is not ready in time leaves the old worker serving; the slot tries
again after a delay that doubles (RETRY_FIRST to RETRY_MAX). A recycle is no
crash: no backoff, nothing counted in the crash window.

Requests: aiohttp counts them already (`Server.requests_count`, read the same
way by aiohttp's own gunicorn worker), so the worker looks at that count every
CHECK_EVERY seconds and a request costs nothing more. The overshoot (at most
CHECK_EVERY seconds of requests) is of the order of what the worker serves
anyway while its successor starts (a fork and the app's start, ~0.05-0.1 s).

Memory: the master reads each API worker's resident memory (/proc/PID/statm)
every MEMORY_EVERY seconds. A worker is recycled for memory only once it has
run MEMORY_MIN_AGE seconds: were `max_memory` below what a fresh worker takes
(its successor would be over at once), each slot is then replaced at most that
often, never in a loop, and a warning (`recycle.memory_floor`) says so once.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..config import ServerSettings
from ..logging import get_logger
from ..metrics import supervision as supervision_metrics
from .children import Child
from .policy import STABLE_AFTER
from .process import resident_memory

if TYPE_CHECKING:
    from .master import Master

log = get_logger("supervisor")

CHECK_EVERY = 0.1  # the worker's look at its request count
ASK_AGAIN = 5.0  # a worker past its limit repeats its ask (a write lost on a full pipe)
MEMORY_EVERY = 1.0
MEMORY_MIN_AGE = STABLE_AFTER  # a worker that ran this long is recycled for memory, not sooner
RETRY_FIRST = 1.0
RETRY_MAX = 60.0



# --- the worker's side ---------------------------------------------------------
def request_limit(server: ServerSettings) -> int | None:
    """This worker's own threshold: max_requests + 0..jitter (None: never)."""
    if server.max_requests <= 0:
        return None
    return server.max_requests + secrets.randbelow(server.max_requests_jitter + 1)


async def watch_requests(count: Callable[[], int], limit: int, ask: Callable[[], None],
                         stopping: Callable[[], bool]) -> None:
    """Ask to be recycled once `count()` reaches `limit`; repeat every ASK_AGAIN
    seconds until stopped (the master ignores repeats while it is on it)."""
    while count() < limit:
        if stopping():
            return
        await asyncio.sleep(CHECK_EVERY)
    get_logger("child").info("child.recycle_due", pid=os.getpid(), requests=count(), limit=limit)
    while not stopping():
        ask()
        await asyncio.sleep(ASK_AGAIN)


# --- the master's side ---------------------------------------------------------
@dataclass
class _Recycle:
    old: Child
    new: Child
    reason: str
    deadline: float  # the successor must be ready by then
    cause: str = "the successor exited before it was ready"


@dataclass
class Recycler:
    """The master's bookkeeping of recycles: hooks called from the master's pipe
    reader (`asked`, `ready`), its reaper (`exited`) and its supervise tick."""

    master: Master
    _by_new: dict[int, _Recycle] = field(default_factory=dict)
    _by_old: dict[int, _Recycle] = field(default_factory=dict)
    _wanted: dict[int, tuple[str, dict]] = field(default_factory=dict)  # pid -> why, still to start
    _retry_at: dict[tuple[str, int], float] = field(default_factory=dict)
    _retry_delay: dict[tuple[str, int], float] = field(default_factory=dict)
    _sampled: set[int] = field(default_factory=set)
    _next_memory_check: float = 0.0
    _warned_floor: bool = False

    def asked(self, child: Child) -> None:
        """The worker reached its max_requests."""
        self._want(child, "max_requests", {})

    def _want(self, child: Child, reason: str, fields: dict) -> None:
        if child.pid in self._by_old or child.retiring or not child.ready:
            return
        self._wanted.setdefault(child.pid, (reason, fields))
        self._start(child, self.master._now())

    def _start(self, child: Child, now: float) -> None:
        if child.retiring:
            self._wanted.pop(child.pid, None)
            return
        if not self.master.may_recycle(child) or now < self._retry_at.get(child.slot, 0.0):
            return  # kept: tried again on a later tick
        reason, fields = self._wanted.pop(child.pid)
        log.info("child.recycle", pid=child.pid, kind=child.kind, index=child.index,
                 generation=child.generation, reason=reason, age_s=round(now - child.started, 1),
                 **fields)
        try:
            new = self.master._spawn(child.kind, child.index, child.generation)
        except OSError as exc:  # fork failed (no memory, no pids): the worker serves on
            self._failed(child, None, reason, f"fork failed: {exc}")
            return
        sup = self.master.settings.supervisor
        # as long as a start takes at worst: its checks' timeout, then a heartbeat's
        record = _Recycle(child, new, reason, now + sup.start_timeout + sup.heartbeat_timeout)
        self._by_new[new.pid] = self._by_old[child.pid] = record

    def ready(self, child: Child) -> None:
        """`child` says it serves: if it is a successor, its predecessor drains now."""
        record = self._by_new.pop(child.pid, None)
        if record is None:
            return
        old = record.old
        self._by_old.pop(old.pid, None)
        if child.retiring:  # too late, or a scale-down or the shutdown took the slot over
            self._failed(old, child.pid, record.reason, record.cause)
            return
        self._retry_at.pop(child.slot, None)
        self._retry_delay.pop(child.slot, None)
        if old.pid in self.master.children and not old.retiring:
            self.master._retire(old)
        log.info("child.recycled", pid=old.pid, successor=child.pid, kind=child.kind,
                 index=child.index, reason=record.reason)
        supervision_metrics.restarted(child.kind, "recycle")

    def exited(self, child: Child) -> None:
        self._wanted.pop(child.pid, None)
        self._sampled.discard(child.pid)
        record = self._by_old.pop(child.pid, None)
        if record is not None:  # gone before its successor was ready: the successor has the slot
            self._by_new.pop(record.new.pid, None)
        record = self._by_new.pop(child.pid, None)
        if record is not None:
            self._by_old.pop(record.old.pid, None)
            self._failed(record.old, child.pid, record.reason, record.cause)

    def _failed(self, old: Child, successor: int | None, reason: str, cause: str) -> None:
        if self.master.grace.stopping or old.retiring or old.pid not in self.master.children:
            return
        delay = self._retry_delay.get(old.slot, RETRY_FIRST)
        self._retry_delay[old.slot] = min(RETRY_MAX, delay * 2)
        self._retry_at[old.slot] = self.master._now() + delay
        if reason == "max_requests":  # memory is measured again anyway
            self._wanted.setdefault(old.pid, (reason, {}))
        log.warning("child.recycle_failed", pid=old.pid, successor=successor, kind=old.kind,
                    index=old.index, reason=reason, cause=cause, retry_in=delay)

    def tick(self, now: float) -> None:
        """From the master's supervise task: late successors, retries, memory."""
        for record in list(self._by_new.values()):
            if now > record.deadline and not record.new.retiring:
                # its exit (or readiness) comes back here as a failed recycle
                record.cause = f"the successor was not ready within {now - record.new.started:.0f} s"
                self.master._retire(record.new)
        for pid in list(self._wanted):
            child = self.master.children.get(pid)
            if child is None:
                self._wanted.pop(pid, None)
            else:
                self._start(child, now)
        limit = self.master.settings.server.max_memory
        if limit and now >= self._next_memory_check:
            self._next_memory_check = now + MEMORY_EVERY
            self._check_memory(limit, now)

    def _check_memory(self, limit: int, now: float) -> None:
        for child in list(self.master.children.values()):
            if child.kind != "api" or not child.ready or child.retiring or child.pid in self._by_old:
                continue
            rss = resident_memory(child.pid)
            if rss is None or rss <= limit:
                self._sampled.add(child.pid)
                continue
            first = child.pid not in self._sampled
            self._sampled.add(child.pid)
            if first and not self._warned_floor:
                self._warned_floor = True
                log.warning("recycle.memory_floor", pid=child.pid, rss=rss, max_memory=limit,
                            every_s=MEMORY_MIN_AGE,
                            hint="a fresh worker is over max_memory already: each is replaced "
                                 "at most every every_s seconds; raise max_memory")
            if now - child.started >= MEMORY_MIN_AGE:
                self._want(child, "max_memory", {"rss": rss, "max_memory": limit})
