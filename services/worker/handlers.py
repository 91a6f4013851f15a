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
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from pathlib import Path

from shared.blob_store import THUMBNAIL_WIDTHS, BlobStore, thumbnail_path
from shared.blobs import FolderBlobs, fsync_folder
from shared.errors import NotFound
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
    """Validate, then render in the CPU pool so the event loop never blocks.
    Beside the original in the folder; from an object store, the original is
    fetched to a temporary folder (streamed), rendered there and the
    thumbnails stored beside it in the store."""

    def __init__(self, storage: Storage, pool: Executor, max_pixels: int, blobs: BlobStore) -> None:
        self.storage = storage
        self.pool = pool
        self.max_pixels = max_pixels
        self.blobs = blobs

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
        try:
            local = self.blobs.local_file(record.local_path)
            if local is not None:
                await self._render(local)
            else:
                await self._render_in_store(record.local_path)
        except ImageRejected as exc:
            raise JobRejected(f"Image rejected: {exc}") from None
        except (FileNotFoundError, NotFound):  # the content is gone (rolled back, or replaced): no retry brings it back
            raise JobSkipped("File not found") from None
        # Only if the file still has that content (replaced meanwhile: its own job will say so).
        await self.storage.set_thumbnails(record.id, record.local_path)


    async def _render(self, path: str) -> list[str]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, make_thumbnails, path, self.max_pixels)

    async def _render_in_store(self, location: str) -> None:
        folder = await asyncio.to_thread(tempfile.mkdtemp, prefix="thumbnails-")
        try:
            original = os.path.join(folder, "original")
            await self.blobs.fetch_file(location, original)
            made = await self._render(original)
            for width, path in zip(THUMBNAIL_WIDTHS, made, strict=True):
                await self.blobs.put_file(thumbnail_path(location, width), path)
        finally:
            await asyncio.to_thread(shutil.rmtree, folder, True)


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
    documents are gone already). Only what lies inside the folder (or directly
    under the store's prefix): a name that is absolute, climbs out (`..`) or
    is not a plain relative path is never touched, and the job goes to the
    dead letters naming it. Removing what is gone already is fine, so a
    retried job does no harm."""

    def __init__(self, folder: Path, blobs: BlobStore) -> None:
        self.folder = folder
        self.blobs = blobs

    async def __call__(self, job: Job) -> None:
        names = job.payload.get("blobs")
        if not isinstance(names, list) or not names:
            raise JobRejected("Missing blobs")
        in_store = not isinstance(self.blobs, FolderBlobs)
        inside = [name for name in names if (_plain(name) if in_store else _inside(self.folder, name))]
        outside = [name for name in names if name not in inside]
        if inside and in_store:
            await self.blobs.remove_files([each for name in inside
                                           for each in (name, *(thumbnail_path(name, w) for w in THUMBNAIL_WIDTHS))])
        elif inside:
            await asyncio.to_thread(remove_blobs, self.folder, inside)
        if outside:
            raise JobRejected(f"Not inside the folder: {', '.join(map(repr, outside[:5]))}")


def _plain(name: object) -> bool:
    """Whether `name` is one plain object name (no separator, nothing hidden)."""
    return (isinstance(name, str) and bool(name) and not name.startswith(".")
            and not any(c in name for c in "/\\\0"))


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
