"""Periodic purges: at start and every `worker.purge_every` seconds, by one
worker at a time across machines (a Redis lock that expires).

Each purge is one step of `Purger.purge`, named in its result and log line:
- trash: items trashed more than `trash.retention_days` ago are deleted for
  good (documents at once, blobs and thumbnails by purge jobs, as the API's
  permanent delete does). 0 days keeps the trash until it is emptied.
- uploads: tus uploads past their expiry (`uploads.expiry` after creation,
  finished or not) are forgotten, then the part files of the unfinished ones
  removed (a request still writing one finds its upload gone and cleans up).

A failed purge is logged and tried again at the next turn; a step that has
purged something has its blob jobs enqueued before it goes on."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from shared.blob_store import BlobStore
from shared.config import Settings
from shared.enqueuer import Enqueuer
from shared.errors import NotFound
from shared.jobs import GROUP, purge_jobs
from shared.storage import Storage
from shared.upload_bytes import remove_upload_bytes

from .control import Control
from .redis_lock import RedisLock

LOCK_KEY = f"{GROUP}:purge"
LOCK_SECONDS = 600  # longer than a purge; a worker killed mid-purge frees it by expiry
BATCH = 100  # deletions looked up per query
DAY = 86400.0


class Purger:
    def __init__(self, storage: Storage, redis: Redis, enqueuer: Enqueuer, settings: Settings,
                 control: Control, blobs: BlobStore | None = None) -> None:
        self._storage = storage
        self._enqueuer = enqueuer
        self._blobs = blobs
        self._redis = redis
        self._every = settings.worker.purge_every
        self._retention = settings.trash.retention_days * DAY
        self._control = control
        self._lock = RedisLock(redis, LOCK_KEY, LOCK_SECONDS)
        self._steps: tuple[tuple[str, Callable[[], Awaitable[int]]], ...] = (
            ("trash", self.expired_trash),
            ("uploads", self.expired_uploads),
        )

    async def run(self) -> None:
        """Purge now, then every `purge_every` seconds, until stop."""
        await self._control.repeat(self._every, self.purge, "purge")

    async def purge(self) -> dict[str, int] | None:
        """One purge under the lock: how many items each step deleted (None:
        another worker is purging)."""
        async with self._lock.held() as mine:
            if not mine:
                return None
            done = {name: await step() for name, step in self._steps}
        if any(done.values()):
            self._control.log.info("purge.done", **done)
        return done

    async def expired_trash(self) -> int:
        """Delete for good the deletions older than the retention; how many."""
        if not self._retention:
            return 0
        cutoff = time.time() - self._retention
        storage = self._storage
        purged = 0
        seen: set[str] = set()
        while not self._control.stopping:
            batch = [r for r in await storage.trashed_before(cutoff, BATCH) if r.id not in seen]
            if not batch:
                break
            paths: list[str] = []
            for record in batch:
                seen.add(record.id)
                # Still the top of a deletion this old? (restored, or emptied, meanwhile: not ours)
                current = await storage.file_with_trashed(record.user_id, record.id)
                if (current is None or current.trash_id != current.id or current.trashed_at is None
                        or current.trashed_at >= cutoff):
                    continue
                try:
                    paths.extend(await storage.purge_file(record.user_id, record.id))
                except NotFound:
                    continue
                purged += 1
            for job in purge_jobs(paths):
                await self._enqueuer.enqueue(job)
        return purged

    async def expired_uploads(self) -> int:
        """Forget the uploads past their expiry and remove their bytes; how many."""
        storage = self._storage
        purged = 0
        while not self._control.stopping:
            batch = await storage.expired_uploads(time.time(), BATCH)
            if not batch:
                break
            gone = 0
            for upload in batch:
                if await storage.delete_upload(upload.user_id, upload.id) is None:
                    continue  # terminated meanwhile
                if upload.file_id is None:  # a finished upload's part is its file's blob now
                    await remove_upload_bytes(self._blobs, upload.part_path)
                gone += 1
            purged += gone
            if not gone:
                break
        return purged
