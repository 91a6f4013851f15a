"""File contents under FOLDER_PATH: flat, one blob per upload named by a UUID.

Clients of the original count the folder's entries, so nothing else lives
there for long: a blob is written under a hidden `.<uuid>.part` name, flushed
to disk and renamed into place, so a reader never sees half a file and a crash
leaves only a `.part` file, which `remove_stale_parts` cleans at start.
Thumbnails sit beside their original as `<name>_<width>`.

A full disk (ENOSPC) or an exhausted quota (EDQUOT) while storing an upload is
`StorageFull` (the client gets 507), never a bare OSError, and leaves no part.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import re
import shutil
import stat
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from shared.blob_store import (
    HEAD_BYTES,
    THUMBNAIL_WIDTHS,
    WRITE_BATCH,
    BlobInfo,
    ListedBlob,
    ServedAs,
    thumbnail_path,
)
from shared.errors import NotFound, StorageFull

PART_SUFFIX = ".part"
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# The only names this service (and the original) give blobs: a UUID, or a UUID
# and `_<width>` for its thumbnails. Anything else in the folder is not ours to judge.
BLOB_NAME = re.compile(rf"({_UUID})(?:_({'|'.join(map(str, THUMBNAIL_WIDTHS))}))?")


def write_atomically(final_path: str | os.PathLike[str], data: bytes | memoryview) -> None:
    """Write `data` durably to `final_path` via a temp name and a rename (blocking).
    The folder is fsynced after the rename: without it a power cut can lose the
    new name even though the caller was told the file is there (an upload
    answered 201, a thumbnails job acknowledged)."""
    final_path = Path(final_path)
    tmp = final_path.parent / f".{uuid.uuid4()}{PART_SUFFIX}"
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final_path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_folder(final_path.parent)


def fsync_folder(folder: str | os.PathLike[str]) -> None:
    """Make the folder's entries (a rename, an unlink) durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_parts(folder: str | os.PathLike[str], older_than: float = 0.0) -> int:
    """Delete `.part` files left by a crash (older than `older_than` seconds)."""
    removed = 0
    cutoff = time.time() - older_than
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(folder):
            if entry.name.startswith(".") and entry.name.endswith(PART_SUFFIX):
                with contextlib.suppress(FileNotFoundError):
                    if entry.stat().st_mtime <= cutoff:
                        os.unlink(entry.path)
                        removed += 1
    return removed


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _FULL


class FolderBlobWriter:
    """One blob being written as it arrives: `write` the bytes in order, then
    `commit` (fsync, rename to its final name, fsync the folder) or `abort`.

    Bytes are batched in memory and handed to a worker thread once at least
    `batch` bytes wait, so the event loop never blocks on the disk and memory
    stays at about one batch per upload. The part file is created on the first
    write to disk: a request rejected before any content (a folder, a bad
    field) never touches the folder. Used as `async with`, anything but a
    commit (an error, a cancelled request, a client gone) removes the part.
    Every byte passes through `_write_batch`, in order, in the writer thread,
    which keeps a running SHA-256 there (`sha256` once committed): hashing
    costs about as much CPU as taking the bytes in, and off the event loop it
    runs on another core while the next bytes arrive.
    """

    def __init__(self, store: FolderBlobs, batch: int = WRITE_BATCH) -> None:
        self._store = store
        self._batch = batch
        self._name = str(uuid.uuid4())
        self.part_path = str(store.folder / f".{self._name}{PART_SUFFIX}")
        self.path = str(store.folder / self._name)
        self.size = 0
        self.head = b""  # the first HEAD_BYTES bytes
        self._hash = hashlib.sha256()
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._fd: int | None = None
        self._done = False
        self._touched = False  # a thread may have created the part file
        # The thread that writes and the one that aborts never overlap, even
        # when the request awaiting a write is cancelled meanwhile.
        self._lock = threading.Lock()

    async def write(self, data: bytes) -> None:
        if not data:
            return
        if len(self.head) < HEAD_BYTES:
            self.head += data[:HEAD_BYTES - len(self.head)]
        self._pending.append(data)
        self._pending_size += len(data)
        self.size += len(data)
        if self._pending_size >= self._batch:
            await self._flush()

    async def commit(self) -> str:
        """Make the blob durable under its final name; returns that path."""
        await self._flush()
        self._touched = True
        await asyncio.to_thread(self._commit_sync)
        self._done = True
        return self.path

    @property
    def sha256(self) -> str:
        """The hex SHA-256 of the bytes written (complete once committed)."""
        return self._hash.hexdigest()

    async def abort(self) -> None:
        """Drop everything written so far (idempotent; a no-op after commit)."""
        if self._done:
            return
        self._done = True
        self._pending.clear()
        if self._touched:
            await finish_in_thread(self._abort_sync)

    async def __aenter__(self) -> FolderBlobWriter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.abort()

    async def _flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending, self._pending_size = self._pending, [], 0
        self._touched = True
        await asyncio.to_thread(self._write_batch, batch)

    def _write_batch(self, batch: list[bytes]) -> None:
        with self._lock:
            if self._done:
                return
            try:
                if self._fd is None:
                    self._fd = self._open_part()
                for data in batch:
                    self._hash.update(data)  # releases the GIL: the loop runs on meanwhile
                write_all(self._fd, batch)
            except OSError as exc:
                self._abort_locked()
                if is_disk_full(exc):
                    raise StorageFull("no space left for the upload") from exc
                raise

    def _open_part(self) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        try:
            return os.open(self.part_path, flags, 0o644)
        except FileNotFoundError:  # the folder was removed while we ran: recreate it
            self._store.ensure_folder()
            return os.open(self.part_path, flags, 0o644)

    def _commit_sync(self) -> None:
        with self._lock:
            try:
                if self._fd is None:  # empty content: an empty blob
                    self._fd = self._open_part()
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None
                os.replace(self.part_path, self.path)
                fsync_folder(self._store.folder)
            except OSError as exc:
                self._abort_locked()
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path)
                if is_disk_full(exc):
                    raise StorageFull("no space left for the upload") from exc
                raise

    def _abort_sync(self) -> None:
        with self._lock:
            self._abort_locked()

    def _abort_locked(self) -> None:
        self._done = True
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.part_path)


_IOV_MAX = 512  # buffers per writev call (Linux allows 1024)


def write_all(fd: int, batch: list[bytes]) -> None:
    """Blocking: `batch` written in order with writev (which may write part of it)."""
    views = [memoryview(b) for b in batch]
    while views:
        written = os.writev(fd, views[:_IOV_MAX])
        while written and views:
            if written >= len(views[0]):
                written -= len(views[0])
                views.pop(0)
            else:
                views[0] = views[0][written:]
                written = 0


async def finish_in_thread(fn: Callable[[], object]) -> None:
    """Run `fn` in a thread and wait for it; if the wait is cancelled, the
    thread still finishes the job (a part file is never left behind)."""
    task = asyncio.ensure_future(asyncio.to_thread(fn))
    await asyncio.shield(task)


class FolderBlobs:
    """The blob store of one machine: files in `storage.folder_path` (see the
    module's docstring), written through a `FolderBlobWriter` off the event
    loop and sent with zero-copy sendfile (`local_file`)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def ensure_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def writer(self, batch: int = WRITE_BATCH) -> FolderBlobWriter:
        return FolderBlobWriter(self, batch)

    def location(self, name: str) -> str:
        return str(self.folder / name)

    def local_file(self, location: str) -> str | None:
        return location

    async def info(self, location: str) -> BlobInfo:
        try:
            st = await asyncio.to_thread(os.stat, location)
        except (OSError, ValueError):
            raise NotFound() from None
        if not stat.S_ISREG(st.st_mode):
            raise NotFound()
        return BlobInfo(st.st_size, f"{st.st_mtime_ns:x}-{st.st_size:x}", st.st_mtime)

    async def open(self, location: str) -> tuple[BlobInfo, AsyncIterator[bytes]]:
        return await self.info(location), self.read(location)

    async def read(self, location: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        try:
            fh = await asyncio.to_thread(open, location, "rb")
        except (OSError, ValueError):
            raise NotFound() from None
        try:
            await asyncio.to_thread(fh.seek, start)
            remaining = None if end is None else max(0, end - start)
            while remaining is None or remaining > 0:
                data = await asyncio.to_thread(fh.read, WRITE_BATCH if remaining is None
                                               else min(WRITE_BATCH, remaining))
                if not data:
                    return
                if remaining is not None:
                    remaining -= len(data)
                yield data
        finally:
            await asyncio.to_thread(fh.close)

    async def presigned_url(self, location: str, served: ServedAs, expiry: int) -> str | None:
        return None

    async def put_file(self, location: str, path: str) -> None:
        await finish_in_thread(lambda: _copy_file(path, location))

    async def fetch_file(self, location: str, path: str) -> None:
        try:
            await asyncio.to_thread(shutil.copyfile, location, path)
        except FileNotFoundError:
            raise NotFound() from None

    async def remove(self, location: str) -> None:
        await finish_in_thread(lambda: _remove_blob(location))

    async def remove_files(self, names: list[str]) -> int:
        def remove() -> int:
            removed = 0
            for name in names:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.folder / name)
                    removed += 1
            if removed:
                with contextlib.suppress(FileNotFoundError):
                    fsync_folder(self.folder)
            return removed

        return await asyncio.to_thread(remove)

    async def listing(self) -> AsyncIterator[ListedBlob]:
        for entry in await asyncio.to_thread(_scan, self.folder):
            yield entry

    async def check(self) -> None:
        """The folder's own checks are the supervisor's and /readyz's (writable, free space)."""


def _scan(folder: Path) -> list[ListedBlob]:
    found: list[ListedBlob] = []
    with contextlib.suppress(FileNotFoundError), os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    found.append(ListedBlob(entry.name, st.st_mtime, st.st_size))
            except FileNotFoundError:  # removed while we looked
                continue
    return found


def _copy_file(source: str, location: str) -> None:
    """Blocking: `source` copied to `location` via a hidden part and a rename."""
    folder = os.path.dirname(location) or "."
    tmp = os.path.join(folder, f".{uuid.uuid4()}{PART_SUFFIX}")
    try:
        shutil.copyfile(source, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, location)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_folder(folder)


def _remove_blob(path: str) -> None:
    for name in (path, *(thumbnail_path(path, w) for w in THUMBNAIL_WIDTHS)):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
