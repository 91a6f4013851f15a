"""Orphan blobs: content in FOLDER_PATH (or the object store) that no file names, left by an API
worker killed between writing the blob and writing its document. Swept at
start and every `worker.orphan_sweep_every` seconds, once older than
`worker.orphan_age` (1 h), one sweep at a time across workers and machines (a
Redis lock that expires). In an object store, multipart uploads begun
longer than `orphan_age` ago (a process killed mid-write) are aborted too.
What is judged an orphan, and the safety valve that
refuses when the database looks wrong, are shared/orphan_blobs.py's (the
operator's `fsck --repair` removes orphans the same way)."""

from __future__ import annotations

import time

from redis.asyncio import Redis

from shared.blob_store import BlobStore
from shared.config import WorkerSettings
from shared.jobs import GROUP
from shared.orphan_blobs import list_store, old_blobs, remove_orphans
from shared.s3_blobs import S3Blobs
from shared.storage import Storage

from .control import Control
from .redis_lock import RedisLock

LOCK_KEY = f"{GROUP}:orphan-sweep"
LOCK_SECONDS = 600  # longer than a sweep; a worker killed mid-sweep frees it by expiry


class OrphanSweeper:
    def __init__(self, blobs: BlobStore, storage: Storage, redis: Redis, settings: WorkerSettings,
                 control: Control) -> None:
        self._blobs = blobs
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
        if isinstance(self._blobs, S3Blobs) and (aborted := await self._blobs.abandoned_uploads(self._age)):
            log.info("sweep.uploads_aborted", aborted=aborted)
        listing = await list_store(self._blobs)
        candidates, _ = old_blobs(listing, time.time() - self._age)
        removal = await remove_orphans(self._storage, self._blobs, candidates, len(listing.originals))
        if removal.refused:
            log.error("sweep.refused", folder=_where(self._blobs), blobs=len(listing.originals),
                      orphans=removal.orphan_originals, files_named_in_database=removal.named,
                      reason="the database names no blob, or most of the folder would go: "
                             "is DB_URL (or FOLDER_PATH) the right one?")
        elif removal.orphans:
            log.info("sweep.done", removed=removal.removed, orphans=len(removal.orphans),
                     checked=len(candidates), first=removal.orphans[:5])
        return removal.removed


def _where(blobs: BlobStore) -> str:
    if isinstance(blobs, S3Blobs):
        return blobs.location("")
    return str(getattr(blobs, "folder", ""))
