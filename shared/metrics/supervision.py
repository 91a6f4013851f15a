"""What the master counts: its children and why they were replaced.

Called by the master (shared/supervision/master.py) on its event loop; each
does nothing when metrics are off (no metrics directory). prometheus_client is
imported only when first needed, after the directory was prepared."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from .directory import metrics_directory
from .processes import Process, write_processes
from .store import try_archive

RESTART_REASONS = ("crash", "hang", "exit", "reload", "recycle")
_RETRY = 0.02  # seconds before folding a dead child's files again, when a scrape held them

_kinds: set[str] = set()
_restarts: Any = None
_unarchived: list[int] = []
_retry: asyncio.TimerHandle | None = None


def _restarts_counter() -> Any:
    global _restarts
    if _restarts is None:
        from prometheus_client import Counter

        _restarts = Counter("supervisor_restarts_total", "Children replaced by the master, by kind and reason",
                            ["kind", "reason"])
    return _restarts


def children_changed(children: Iterable[Process]) -> None:
    """The children alive now (each with its pid and kind)."""
    directory = metrics_directory()
    if directory is None:
        return
    children = list(children)
    for kind in {c.kind for c in children} - _kinds:
        _kinds.add(kind)
        for reason in RESTART_REASONS:  # every series from 0: a first restart shows as an increase
            _restarts_counter().labels(kind, reason)
    write_processes(directory, children, _kinds)


def restarted(kind: str, reason: str) -> None:
    """A child of `kind` was replaced, for one of RESTART_REASONS."""
    if metrics_directory() is None:
        return
    _restarts_counter().labels(kind, reason).inc()


def child_exited(pid: int) -> None:
    """A child was reaped: what it counted must outlive it, once."""
    if metrics_directory() is None:
        return
    _unarchived.append(pid)
    _archive_waiting()


def _retry_now() -> None:
    global _retry
    _retry = None
    _archive_waiting()


def _archive_waiting() -> None:
    global _retry
    directory = metrics_directory()
    if directory is None:
        return
    while _unarchived:
        if not try_archive(directory, _unarchived[0]):
            # A scrape reads now (milliseconds): the master's loop never waits for it.
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # not on a loop: the next reaped child takes these along
            if _retry is None:
                _retry = loop.call_later(_RETRY, _retry_now)
            return
        _unarchived.pop(0)
