"""The files of the metrics directory: reading them all for a scrape, and
folding a dead child's into the archive so its counts outlive it exactly once.

Each process writes `<type>_<pid>.db` (prometheus_client's multiprocess mode);
a scrape sums them. Left alone, a dead child's files would stay forever (every
restart one more set to read at each scrape) and its gauges would still show.
So when a child is reaped, the master adds its counters, histograms and
summaries into `<type>_archive.db` and deletes its files, gauges included.

A scrape must never see a child's counts twice (archived and still in its
file) nor not at all: the merge holds the directory's lock exclusively, a
scrape holds it shared. The lock is a POSIX record lock (`lockf`), which a
forked child does not inherit (an flock would be held by every child forked
while the master scraped); such locks do not exclude threads of one process,
so a process-wide mutex comes first.

The archive is written with prometheus_client's MmapedDict, the format its
collector reads (pinned version; tests/test_library_internals.py checks it).
A scrape reads the files with it too, and sums them with text.py.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .text import Summed

LOCK = "merge.lock"  # not *.db: the collector reads only those
ARCHIVE = "archive"  # stands where the pid goes in a file's name
SUMMED = ("counter", "histogram", "summary")  # what a dead child leaves is added up

_in_process = threading.Lock()


def _open_lock(directory: Path) -> int:
    return os.open(directory / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


@contextmanager
def reading(directory: Path) -> Iterator[None]:
    """Hold the directory steady for a scrape (blocks while a merge runs: milliseconds)."""
    with _in_process:
        fd = _open_lock(directory)
        try:
            fcntl.lockf(fd, fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # releases the lock


def read(directory: Path) -> tuple[Summed, list[Any]]:
    """Every process's figures: counters and histograms summed (text.py),
    and the families of any other file (gauges, summaries) as prometheus_client reads them."""
    from prometheus_client.mmap_dict import MmapedDict
    from prometheus_client.multiprocess import MultiProcessCollector

    summed, others = Summed(), []
    with reading(directory):
        for path in directory.glob("*.db"):
            kind = path.name.partition("_")[0]
            if kind not in ("counter", "histogram"):
                others.append(str(path))
                continue
            try:
                entries = MmapedDict.read_all_values_from_file(str(path))
            except FileNotFoundError:
                continue
            summed.add(kind, ((key, value) for key, value, _, _ in entries))
        families = list(MultiProcessCollector.merge(others)) if others else []
    return summed, families


def try_archive(directory: Path, pid: int) -> bool:
    """Fold `pid`'s files into the archive, unless a scrape holds the
    directory now (False: try again shortly; the files wait meanwhile)."""
    if not _in_process.acquire(blocking=False):
        return False
    try:
        fd = _open_lock(directory)
        try:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # EAGAIN/EACCES: a scrape reads
                return False
            archive(directory, pid)
            return True
        finally:
            os.close(fd)
    finally:
        _in_process.release()


def archive(directory: Path, pid: int) -> None:
    """Under the exclusive lock: add `pid`'s summed figures to the archive,
    then delete every file of `pid`."""
    from prometheus_client.mmap_dict import MmapedDict

    for kind in SUMMED:
        source = directory / f"{kind}_{pid}.db"
        if not source.exists():
            continue
        entries = list(MmapedDict.read_all_values_from_file(str(source)))
        target = MmapedDict(str(directory / f"{kind}_{ARCHIVE}.db"))
        try:
            for key, value, _timestamp, _pos in entries:
                total, _ = target.read_value(key)
                target.write_value(key, total + value, 0.0)
        finally:
            target.close()
        source.unlink()
    for gauge in directory.glob(f"gauge_*_{pid}.db"):  # a dead process's gauges go with it
        gauge.unlink(missing_ok=True)
