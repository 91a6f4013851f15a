"""Orphan blobs: content in FOLDER_PATH that no file names, left by an API
worker killed between writing the blob and writing its document. Swept at
start and every `worker.orphan_sweep_every` seconds.

It must never delete a live file, hence:
- only names this service (and the original) make: a UUID, or a UUID and
  `_500`/`_250`/`_100` (its thumbnails); anything else in the folder is left
  alone (`.part` files are `remove_stale_parts`' business);
- only blobs older than `worker.orphan_age` (1 h): an upload whose document
  is being written right now is never touched;
- matched against the documents by name, not whole path (a database written
  by the original may hold its paths in another form);
- one sweep at a time across workers and machines (a Redis lock that expires);
- a safety valve: when the database names no blob at all, or most of the
  folder would go, it refuses and logs an error instead (a DB_URL pointing at
  the wrong, or an empty, database must not wipe the files);
- the folder is listed and files removed in threads, in batches."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from redis.asyncio import Redis

from shared.blobs import BLOB_NAME, fsync_folder
from shared.config import WorkerSettings
from shared.jobs import GROUP
from shared.storage import Storage

from .control import Control
from .redis_lock import RedisLock

LOCK_KEY = f"{GROUP}:orphan-sweep"
LOCK_SECONDS = 600  # longer than a sweep; a worker killed mid-sweep frees it by expiry
BATCH = 500  # files removed per thread hop
MOST_OF_THE_FOLDER = 0.5  # more originals than this share would go: refuse



@dataclass
class Listing:
    """The folder's blobs: originals (name -> mtime) and, per original's name,
    its thumbnails older than the cutoff."""

    originals: dict[str, float] = field(default_factory=dict)
    old_thumbnails: dict[str, list[str]] = field(default_factory=dict)


def list_blobs(folder: Path, cutoff: float) -> Listing:
    """Blocking: one scandir of the folder."""
    listing = Listing()
    with contextlib.suppress(FileNotFoundError), os.scandir(folder) as entries:
        for entry in entries:
            match = BLOB_NAME.fullmatch(entry.name)
            if match is None:
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                mtime = entry.stat(follow_symlinks=False).st_mtime
            except FileNotFoundError:
                continue
            base, width = match.groups()
            if width is None:
                listing.originals[base] = mtime
            elif mtime <= cutoff:
                listing.old_thumbnails.setdefault(base, []).append(entry.name)
    return listing


def remove_files(folder: Path, names: list[str]) -> int:
    """Blocking: unlink `names` (gone already is fine); how many were removed."""
    removed = 0
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(folder / name)
            removed += 1
    return removed


class OrphanSweeper:
    def __init__(self, folder: Path, storage: Storage, redis: Redis, settings: WorkerSettings,
                 control: Control) -> None:
        self._folder = folder
        self._storage = storage
        self._age = settings.orphan_age
        self._every = settings.orphan_sweep_every
        self._control = control
        self._lock = RedisLock(redis, LOCK_KEY, LOCK_SECONDS)

    async def run(self) -> None:
        """Sweep now, then every `orphan_sweep_every` seconds, until stop.
        A failed sweep is logged and tried again at the next turn."""
        await self._control.repeat(self._every, self.sweep, "sweep")

    async def sweep(self) -> int | None:
        """One sweep under the lock; how many files were removed (None: another
        worker is sweeping)."""
        async with self._lock.held() as mine:
            return await self._sweep() if mine else None

    async def _sweep(self) -> int:
        log = self._control.log
        cutoff = time.time() - self._age
        listing = await asyncio.to_thread(list_blobs, self._folder, cutoff)
        originals = listing.originals
        # Old originals, and the owners of old thumbnails whose original is gone or old too.
        candidates = {name for name, mtime in originals.items() if mtime <= cutoff}
        candidates.update(base for base in listing.old_thumbnails
                          if originals.get(base, cutoff) <= cutoff)
        if not candidates:
            return 0
        in_use, named = await self._storage.blobs_in_use(candidates)
        orphans = candidates - in_use
        if not orphans:
            return 0
        orphan_originals = sum(1 for name in orphans if name in originals)
        if named == 0 or orphan_originals > len(originals) * MOST_OF_THE_FOLDER:
            log.error("sweep.refused", folder=str(self._folder), blobs=len(originals),
                      orphans=orphan_originals, files_named_in_database=named,
                      reason="the database names no blob, or most of the folder would go: "
                             "is DB_URL (or FOLDER_PATH) the right one?")
            return 0
        doomed: list[str] = []
        for name in sorted(orphans):
            if name in originals:
                doomed.append(name)
            doomed.extend(listing.old_thumbnails.get(name, ()))
        removed = 0
        for start in range(0, len(doomed), BATCH):
            removed += await asyncio.to_thread(remove_files, self._folder, doomed[start:start + BATCH])
        await asyncio.to_thread(fsync_folder, self._folder)
        log.info("sweep.done", removed=removed, orphans=len(orphans), checked=len(candidates),
                 first=sorted(orphans)[:5])
        return removed
