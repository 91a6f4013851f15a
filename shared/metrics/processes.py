"""Which processes of the node are alive, for `process_resident_memory_bytes`
and `supervisor_children`: the master writes the list at each spawn and exit,
a scrape reads it and each process's resident memory from /proc at that moment.

Read at scrape time rather than stored by each process: always fresh, a dead
child is gone from the list as soon as it is reaped, and nothing is written
by the children (a value a child inherited from the master at fork would
otherwise show under the master's labels)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from ..supervision.process import resident_memory

LIST = "processes.json"
MASTER = "master"


class Process(Protocol):
    @property
    def pid(self) -> int: ...

    @property
    def kind(self) -> str: ...


def write_processes(directory: Path, children: Iterable[Process], kinds: Iterable[str]) -> None:
    """The master and `children` (`kinds`: every kind it runs, counted 0 when none is alive)."""
    listing = {"processes": [[os.getpid(), MASTER], *[[c.pid, c.kind] for c in children]],
               "kinds": sorted(set(kinds))}
    temporary = directory / f".{LIST}.{os.getpid()}"
    temporary.write_text(json.dumps(listing))
    os.replace(temporary, directory / LIST)  # a scrape reads the old list or the new one, whole


def read_processes(directory: Path) -> dict[str, Any]:
    try:
        listing = json.loads((directory / LIST).read_text())
    except (OSError, ValueError):
        return {"processes": [], "kinds": []}
    return listing if isinstance(listing, dict) else {"processes": [], "kinds": []}


def live(listing: dict[str, Any]) -> Iterator[tuple[int, str, int]]:
    """(pid, kind, resident bytes) of each listed process still there."""
    for pid, kind in listing.get("processes", []):
        rss = resident_memory(int(pid))
        if rss is not None:
            yield int(pid), str(kind), rss
