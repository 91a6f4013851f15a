"""The bytes of resumable uploads: one part file per upload, grown chunk by chunk.

The part file and the stored offset agree at every step: a chunk is written
at the stored offset, fsynced, and only then is the offset moved (by the
caller, compare-and-set in the storage). Bytes past the stored offset (a
write whose offset was never recorded: a crash, a dropped chunk) are never
trusted: the next writer truncates them away before writing.

One writer at a time per upload, across processes: a `PartFile` holds an
exclusive, non-blocking flock on the part for its request; a second request
finds it taken and is refused (Conflict), not queued. All disk work and
hashing run in threads (hashlib releases the GIL on large updates).

`RunningHashes` keeps, per process, the sha256 of each upload's bytes so far,
so the whole file's hash is known at completion without reading it again.
After a restart, or when the chunks went to another process, the cache has no
entry at the right offset and the file is hashed once, at completion.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import threading
from collections import OrderedDict
from typing import Any

from shared.blobs import WRITE_BATCH, finish_in_thread, fsync_folder, is_disk_full, write_all
from shared.errors import Conflict, StorageFull

READ_SIZE = 1 << 20


class PartLost(Exception):
    """The part file is gone or shorter than the stored offset: the upload
    cannot go on (it expired and was purged meanwhile, or the folder was
    tampered with)."""


class BatchedChunk:
    """A tus chunk's bytes handed on in batches of at least WRITE_BATCH (one
    hop to the thread or the store per MiB, not one per network read), and
    `hashers` updated with each batch. A subclass says where a batch goes
    (`_hand_over`); `written` counts every byte given to `write`."""

    def __init__(self) -> None:
        self.written = 0  # bytes handed to write() (flushed or pending)
        self.hashers: list[Any] = []
        self._pending: list[bytes] = []
        self._pending_size = 0

    async def write(self, data: bytes) -> None:
        if not data:
            return
        self._pending.append(data)
        self._pending_size += len(data)
        self.written += len(data)
        if self._pending_size >= WRITE_BATCH:
            await self._flush()

    async def flush(self) -> None:
        """Hand what is pending on (and to the hashers), without making it durable."""
        await self._flush()

    def _forget(self) -> None:
        """This request's bytes never came (a rollback)."""
        self._pending, self._pending_size, self.written = [], 0, 0

    async def _flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending, self._pending_size = self._pending, [], 0
        await self._hand_over(batch)

    async def _hand_over(self, batch: list[bytes]) -> None:
        raise NotImplementedError


class PartFile(BatchedChunk):
    """An upload's part file, locked and positioned at `offset` for one request.

    `write` the chunk's bytes in order (batched, written in a thread; each
    batch also updates `hashers`), then `sync` (fsync: the bytes are durable
    and the caller may move the stored offset) or `rollback` (back to
    `offset`, as if the chunk never came); `close` always, which also frees
    the lock."""

    def __init__(self, path: str, offset: int, fd: int) -> None:
        super().__init__()
        self.path = path
        self.offset = offset
        self._fd: int | None = fd
        self._lock = threading.Lock()  # the writing thread and a rollback never overlap

    @classmethod
    async def open(cls, path: str, offset: int) -> PartFile:
        """Lock the part, cut it back to `offset`; at offset 0 the part is
        made when missing. Conflict when another request holds it; PartLost
        when it is missing or holds fewer than `offset` bytes."""
        fd = await asyncio.to_thread(_open_locked, path, offset)
        return cls(path, offset, fd)

    async def sync(self) -> None:
        """Everything written so far is on disk (fsync)."""
        await self._flush()
        await finish_in_thread(self._fsync)

    async def rollback(self) -> None:
        """Drop this request's bytes: the file ends at `offset` again."""
        self._forget()
        await finish_in_thread(self._truncate)

    async def close(self) -> None:
        """Release the lock and the file (idempotent; finishes even if cancelled)."""
        await finish_in_thread(self._close)

    async def _hand_over(self, batch: list[bytes]) -> None:
        await asyncio.to_thread(self._write_batch, batch)

    def _write_batch(self, batch: list[bytes]) -> None:
        with self._lock:
            if self._fd is None:
                return
            try:
                write_all(self._fd, batch)
            except OSError as exc:
                if is_disk_full(exc):
                    raise StorageFull("no space left for the upload") from exc
                raise
            for hasher in self.hashers:
                for data in batch:
                    hasher.update(data)

    def _fsync(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.fsync(self._fd)

    def _truncate(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.ftruncate(self._fd, self.offset)
                os.lseek(self._fd, self.offset, os.SEEK_SET)
                os.fsync(self._fd)

    def _close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)  # frees the flock with the last descriptor
                self._fd = None


def _open_locked(path: str, offset: int) -> int:
    flags = os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if offset == 0 else 0)
    try:
        fd = os.open(path, flags, 0o644)
    except FileNotFoundError:
        if offset:
            raise PartLost(path) from None
        os.makedirs(os.path.dirname(path), exist_ok=True)  # the parts folder is made on demand
        fd = os.open(path, flags, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict("Another request is writing this upload") from None
        size = os.fstat(fd).st_size
        if size < offset:
            raise PartLost(path)
        if size > offset:
            os.ftruncate(fd, offset)
        os.lseek(fd, offset, os.SEEK_SET)
        return fd
    except BaseException:
        os.close(fd)
        raise


def probe_lock(path: str) -> bool:
    """Blocking: whether the part is free right now (no request writing it).
    A missing part counts as free."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # and with it the probe's lock


def sha256_of(path: str, length: int) -> str:
    """Blocking: the sha256 hex of the first `length` bytes of `path`."""
    digest = hashlib.sha256()
    remaining = length
    with open(path, "rb", buffering=0) as fh:
        while remaining:
            data = fh.read(min(READ_SIZE, remaining))
            if not data:
                raise PartLost(path)
            digest.update(data)
            remaining -= len(data)
    return digest.hexdigest()


def read_head(path: str, size: int) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(size)


def place(part_path: str, blob_path: str, length: int) -> str:
    """Blocking: make the part (already fsynced) the blob, durably; the path
    of the content. Idempotent: when the part is gone and the blob is there,
    a previous call got this far. An empty upload may have no part at all."""
    try:
        os.replace(part_path, blob_path)
    except FileNotFoundError:
        if os.path.exists(blob_path):
            return blob_path
        if length:
            raise PartLost(part_path) from None
        with open(blob_path, "xb") as fh:
            os.fsync(fh.fileno())
    else:
        fsync_folder(os.path.dirname(part_path))  # the part's name gone for good
    fsync_folder(os.path.dirname(blob_path))
    return blob_path


def remove_part(path: str) -> None:
    """Blocking: the part of a terminated or expired upload (gone already is fine)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class RunningHashes:
    """sha256 state of uploads in progress in this process: upload id ->
    (offset it covers, hashlib object). Bounded (least recently used go
    first): a lost entry only costs one read of the file at completion."""

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[int, Any]] = OrderedDict()

    def at(self, upload_id: str, offset: int) -> Any | None:
        """A copy of the hash of the upload's first `offset` bytes, if known
        here (a fresh one at offset 0); the caller puts it back once its
        chunk is durable, so a dropped chunk leaves the entry as it was."""
        if offset == 0:
            return hashlib.sha256()
        entry = self._entries.get(upload_id)
        if entry is None or entry[0] != offset:
            return None
        self._entries.move_to_end(upload_id)
        return entry[1].copy()

    def put(self, upload_id: str, offset: int, hasher: Any) -> None:
        self._entries[upload_id] = (offset, hasher)
        self._entries.move_to_end(upload_id)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def forget(self, upload_id: str) -> None:
        self._entries.pop(upload_id, None)
