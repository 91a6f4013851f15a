"""What each job kind does. A handler finishes (the job is acked), raises
`JobSkipped` (nothing left to do: acked too), `JobRejected` (permanent: dead
letters at once) or raises anything else (transient: retried with backoff).

A job whose file or user no longer exists is skipped, not dead: the API
enqueues after storing, and a request that failed after its XADD was sent
(Redis stalled, the reply timed out) rolls the record back while the XADD
may still run later. Such a job has nothing to do; a dead letter would only
alarm the operator. A malformed payload or an undecodable image is a real
failure and goes to the dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from pathlib import Path

from shared.blobs import THUMBNAIL_WIDTHS, fsync_folder, thumbnail_path
from shared.jobs import Job
from shared.storage import Storage

from .thumbnails import ImageRejected, make_thumbnails
from .welcome import WelcomeSender

Handler = Callable[[Job], Awaitable[None]]


class JobRejected(Exception):
    """The job can never succeed (bad payload, not an image)."""


class JobSkipped(Exception):
    """The job has nothing to do (its record is gone); the message says why."""


def _field(job: Job, name: str) -> str:
    value = job.payload.get(name)
    if value is None or value == "":
        raise JobRejected(f"Missing {name}")
    return str(value)


class ThumbnailsHandler:
    """Validate, then render in the CPU pool so the event loop never blocks."""

    def __init__(self, storage: Storage, pool: Executor, max_pixels: int) -> None:
        self.storage = storage
        self.pool = pool
        self.max_pixels = max_pixels

    async def __call__(self, job: Job) -> None:
        file_id = _field(job, "fileId")
        user_id = _field(job, "userId")
        record = await self.storage.file_of_user(user_id, file_id)
        if record is None:
            raise JobSkipped("File not found")
        if not record.local_path:  # a folder: never enqueued so by the API
            raise JobRejected("File not found")
        if record.type != "image":  # its content was replaced (PUT /v2/files/:id/content) by a non-image
            raise JobSkipped("Not an image")
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self.pool, make_thumbnails, record.local_path, self.max_pixels)
        except ImageRejected as exc:
            raise JobRejected(f"Image rejected: {exc}") from None
        except FileNotFoundError:  # the content is gone (rolled back, or replaced): no retry brings it back
            raise JobSkipped("File not found") from None
        # Only if the file still has that content (replaced meanwhile: its own job will say so).
        await self.storage.set_thumbnails(record.id, record.local_path)


class WelcomeHandler:
    def __init__(self, storage: Storage, sender: WelcomeSender) -> None:
        self.storage = storage
        self.sender = sender

    async def __call__(self, job: Job) -> None:
        user_id = _field(job, "userId")
        user = await self.storage.user_by_id(user_id)
        if user is None:
            raise JobSkipped("User not found")
        await self.sender.send(user.email)



class PurgeHandler:
    """Remove the blobs, and their thumbnails, of files deleted for good (their
    documents are gone already). Only what lies inside the folder: a name that
    is absolute, climbs out (`..`) or is not a plain relative path is never
    touched, and the job goes to the dead letters naming it. Removing what is
    gone already is fine, so a retried job does no harm."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def __call__(self, job: Job) -> None:
        names = job.payload.get("blobs")
        if not isinstance(names, list) or not names:
            raise JobRejected("Missing blobs")
        inside = [name for name in names if _inside(self.folder, name)]
        outside = [name for name in names if name not in inside]
        if inside:
            await asyncio.to_thread(remove_blobs, self.folder, inside)
        if outside:
            raise JobRejected(f"Not inside the folder: {', '.join(map(repr, outside[:5]))}")


def _inside(folder: Path, name: object) -> bool:
    """Whether `name` is a relative path naming something strictly inside `folder`."""
    if not isinstance(name, str) or not name or "\0" in name or "\\" in name:
        return False
    if os.path.isabs(name) or os.path.normpath(name) != name or name.split("/")[0] in (".", ".."):
        return False
    root = os.path.realpath(folder)
    parent = os.path.realpath(os.path.dirname(os.path.join(root, name)))
    return parent == root or parent.startswith(root + os.sep)


def remove_blobs(folder: Path, names: list[str]) -> int:
    """Blocking: unlink each blob and its thumbnails (gone already is fine);
    how many files were removed. The folder is fsynced once at the end."""
    removed = 0
    for name in names:
        path = str(folder / name)
        for each in (path, *(thumbnail_path(path, width) for width in THUMBNAIL_WIDTHS)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(each)
                removed += 1
    if removed:
        with contextlib.suppress(FileNotFoundError):
            fsync_folder(folder)
    return removed
