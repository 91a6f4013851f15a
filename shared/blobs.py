"""File contents under FOLDER_PATH: flat, one blob per upload named by a UUID.

Clients of the original count the folder's entries, so nothing else lives
there for long: a blob is written under a hidden `.<uuid>.part` name, flushed
to disk and renamed into place, so a reader never sees half a file and a crash
leaves only a `.part` file, which `remove_stale_parts` cleans at start.
Thumbnails sit beside their original as `<name>_<width>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from pathlib import Path

PART_SUFFIX = ".part"
# The thumbnails every image gets, largest first: `<blob>_500`, `<blob>_250`, `<blob>_100`.
THUMBNAIL_WIDTHS: tuple[int, ...] = (500, 250, 100)


def thumbnail_path(local_path: str, width: int) -> str:
    return f"{local_path}_{width}"


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


class BlobStore:
    """Where uploads go. Writes happen in a thread: fsync can take milliseconds."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def ensure_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def new_path(self) -> str:
        return str(self.folder / str(uuid.uuid4()))

    async def write(self, data: bytes) -> str:
        """Store `data` under a fresh UUID name; returns its absolute path."""
        path = self.new_path()
        await asyncio.to_thread(self._write, path, data)
        return path

    def _write(self, path: str, data: bytes) -> None:
        try:
            write_atomically(path, data)
        except FileNotFoundError:  # the folder was removed while we ran: recreate it
            self.ensure_folder()
            write_atomically(path, data)

    @staticmethod
    async def remove(path: str) -> None:
        """Remove a blob (and any thumbnails of it); missing files are fine."""
        for name in (path, *(thumbnail_path(path, w) for w in THUMBNAIL_WIDTHS)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
