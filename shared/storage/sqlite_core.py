"""The SQLite backend's connections, reads and writes, shared by its parts
(sqlite.py users, sqlite_files.py, sqlite_trash.py, sqlite_links.py,
sqlite_uploads.py), and the rows-to-records conversions.

WAL mode lets several API processes read while one writes; writes run in a
dedicated thread so they never stall the event loop, each within a deadline
(sqlite_writes.py), and a write that must agree with what it read runs as one
transaction there (`_transaction`). Reads are single indexed look-ups
answered from the page cache in microseconds, so they run inline: a thread
hop would cost more than the query.

Reads made in one event-loop iteration share one read transaction (ended by
a callback at the next iteration): under load many requests are served per
iteration, and each transaction costs SQLite two fcntl locks, a stat and two
getpid calls. A snapshot is taken at the transaction's first read and a task
resuming after its own write runs after that transaction ends, so a request
always sees its own writes; across processes a read may be one iteration old.

Files looked up by id are remembered per process while the database is
unchanged: each read transaction starts by asking SQLite's `data_version`,
which changes whenever any other connection, in any process, has committed,
and a change forgets everything remembered. A remembered file is therefore
exactly what the query would return in that transaction. Under a read-mostly
load a look-up by id costs a dict get instead of a query, which took 15 % off
the instructions of an authenticated `GET /files/:id` (bench/README.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..config import PROJECT_ROOT
from ..errors import Invalid, QuotaExceeded, StorageBusy, StorageFull, StorageUnavailable
from .base import DEFAULT_WRITE_TIMEOUT, NOT_A_FOLDER, PARENT_NOT_FOUND, ROOT, FileRecord, ParentId, is_id, is_root
from .guard import unstorable_text
from .sqlite_migrations import id_time
from .sqlite_ping import SQLitePing
from .sqlite_writes import WriteQueue

T = TypeVar("T")

CONNECT_TIMEOUT = 10.0  # opening (and migrating) waits this long for another process's lock
MAX_DEPTH = 10_000  # a parent chain longer than this is a cycle left by other tools

FILE_COLUMNS = ("id, user_id, name, type, is_public, parent_id, local_path, size, sha256, mime_type,"
                " created_at, updated_at, trashed_at, trash_id, has_thumbnails")
_REMEMBERED_FILES = 10_000  # beyond this the memory is emptied and refilled
_UNKNOWN = object()


def sqlite_path(url: str) -> Path:
    """sqlite:///relative/to/project or sqlite:////absolute/path."""
    raw = url.removeprefix("sqlite:///")
    path = Path(raw)
    return path if path.is_absolute() else PROJECT_ROOT / path


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                           timeout=CONNECT_TIMEOUT)
    conn.execute("PRAGMA synchronous = NORMAL")  # durable across crashes of the process in WAL mode
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def file_record(row: tuple) -> FileRecord:
    """A FileRecord from FILE_COLUMNS. Times missing (rows written by older
    code, until the next open fills them) are the id's."""
    (file_id, user_id, name, type_, is_public, parent_id, local_path, size, sha256, mime_type,
     created_at, updated_at, trashed_at, trash_id, has_thumbnails) = row
    if created_at is None:
        created_at = id_time(file_id)
    return FileRecord(
        file_id, user_id, name, type_, bool(is_public), ROOT if parent_id == "0" else parent_id,
        local_path, size, sha256, mime_type, created_at, created_at if updated_at is None else updated_at,
        trashed_at, trash_id, bool(has_thumbnails),
    )


def parent_key(parent_id: ParentId) -> str | None:
    """How a parent is stored ('0' for the root, ids in lowercase); None when
    it is neither the root nor an id (matches nothing)."""
    if is_root(parent_id):
        return "0"
    if is_id(parent_id):
        return str(parent_id).lower()
    return None


def live_folder_key(conn: sqlite3.Connection, user_id: str, parent_id: ParentId) -> str:
    """The stored key of `parent_id` if it is the root or a live folder of the
    user, read in the caller's transaction; else Invalid, as the API says it."""
    key = parent_key(parent_id)
    if key == "0":
        return key
    row = None if key is None else conn.execute(
        "SELECT type, trashed_at FROM files WHERE id = ? AND user_id = ?", (key, user_id)
    ).fetchone()
    if key is None or row is None or row[1] is not None:
        raise Invalid(PARENT_NOT_FOUND)
    if row[0] != "folder":
        raise Invalid(NOT_A_FOLDER)
    return key


def check_quota(conn: sqlite3.Connection, user_id: str, more: int, quota: int | None) -> None:
    """QuotaExceeded if `more` bytes would take the user's used + reserved
    bytes past `quota` (None: unlimited). Adding nothing is never
    refused, so a user over a lowered quota can still make folders and shrink files."""
    if quota is None or more <= 0:
        return
    row = conn.execute(
        "SELECT used_bytes, (SELECT coalesce(sum(length), 0) FROM uploads"
        " WHERE user_id = ?1 AND file_id IS NULL) FROM users WHERE id = ?1",
        (user_id,),
    ).fetchone()
    used, reserved = row if row is not None else (0, 0)
    if used + reserved + more > quota:
        raise QuotaExceeded()


def add_used_bytes(conn: sqlite3.Connection, user_id: str, delta: int) -> None:
    if delta:
        conn.execute("UPDATE users SET used_bytes = used_bytes + ? WHERE id = ?", (delta, user_id))


def append_seq(conn: sqlite3.Connection, user_id: str, key: str) -> int:
    """The v1 position after the last of the folder's (an index seek)."""
    (last,) = conn.execute(
        "SELECT max(seq) FROM files INDEXED BY files_by_parent WHERE user_id = ? AND parent_id = ?", (user_id, key)
    ).fetchone()
    return 0 if last is None else last + 1


def leave_order(conn: sqlite3.Connection, user_id: str, key: str, seq: int | None) -> None:
    """Close the gap an item leaving position `seq` of a folder's v1 order
    makes, so positions stay dense. The unique index forbids a one-statement
    shift, so the tail moves out of the way (negative) and back."""
    if seq is None:
        return
    conn.execute("UPDATE files INDEXED BY files_by_parent SET seq = -seq"
                 " WHERE user_id = ? AND parent_id = ? AND seq > ?", (user_id, key, seq))
    conn.execute("UPDATE files INDEXED BY files_by_parent SET seq = -seq - 1"
                 " WHERE user_id = ? AND parent_id = ? AND seq < 0", (user_id, key))


def domain_error(exc: Exception) -> Exception | None:
    """The domain error for a driver's exception (None: not one of ours to translate)."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        primary = code & 0xFF if isinstance(code, int) else None
        if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return StorageBusy(f"SQLite: {exc}")
        if primary == sqlite3.SQLITE_FULL:
            return StorageFull(f"SQLite: {exc}")
        # I/O errors, a file that cannot be opened or is not a database, a closed
        # connection: the database is not usable now, whatever the request.
        return StorageUnavailable(f"SQLite: {exc}")
    if isinstance(exc, OSError):  # creating the database's folder
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return StorageFull(f"SQLite: {exc}")
        return StorageUnavailable(f"SQLite: {exc}")
    return unstorable_text(exc)


class SQLiteCore:
    """The connections and how they are used; the parts add the methods."""

    def __init__(
        self,
        path: Path,
        reader: sqlite3.Connection,
        writer: sqlite3.Connection,
        write_timeout: float = DEFAULT_WRITE_TIMEOUT,
    ) -> None:
        self.path = path
        self._reader = reader
        self._in_read = False
        self._data_version = -1
        self._files: dict[str, FileRecord | None] = {}  # by id as asked, valid for _data_version
        self._writer = writer
        self._writes = WriteQueue(writer, write_timeout)
        self._ping = SQLitePing(path)

    def _read(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        """A read in this loop iteration's read transaction (see the module doc)."""
        if not self._in_read:
            self._begin_read()
        return self._reader.execute(sql, params)

    def _begin_read(self) -> None:
        self._reader.execute("BEGIN")
        self._in_read = True
        asyncio.get_running_loop().call_soon(self._end_read)
        # The snapshot starts here; a commit by anyone since the last one changes the version.
        (version,) = self._reader.execute("PRAGMA data_version").fetchone()
        if version != self._data_version:
            self._data_version = version
            self._files.clear()

    def _file_by_id(self, file_id: str) -> FileRecord | None:
        """The file with this id, live or trashed, whoever owns it (callers
        scope it), from memory when this snapshot already read it (see the
        module doc)."""
        if not isinstance(file_id, str):
            return None
        if not self._in_read:
            self._begin_read()
        record = self._files.get(file_id, _UNKNOWN)
        if record is _UNKNOWN:
            record = None
            if is_id(file_id):
                row = self._reader.execute(
                    f"SELECT {FILE_COLUMNS} FROM files WHERE id = ?", (file_id.lower(),)
                ).fetchone()
                record = None if row is None else file_record(row)
            if len(self._files) >= _REMEMBERED_FILES:
                self._files.clear()
            self._files[file_id] = record
        return record  # type: ignore[return-value]

    def _end_read(self) -> None:
        if self._in_read:
            self._in_read = False
            try:
                self._reader.execute("COMMIT")
            except sqlite3.Error:  # never leave the reader inside a transaction
                if self._reader.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._reader.execute("ROLLBACK")

    async def _write(self, sql: str, params: tuple = ()) -> list[tuple]:
        return await self._transaction(lambda conn: conn.execute(sql, params).fetchall())

    async def _transaction(self, steps: Callable[[sqlite3.Connection], T]) -> T:
        return await self._writes.run(steps)
