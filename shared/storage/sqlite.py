"""SQLite backend: the embedded default, so the service runs with nothing but Redis.

WAL mode lets several API processes read while one writes; writes run in a
dedicated thread so they never stall the event loop, each within a deadline
(sqlite_writes.py). Reads are single indexed look-ups answered from the page
cache in microseconds, so they run inline: a thread hop would cost more than
the query.

The schema is versioned (sqlite_migrations.py) and brought up to date at open.
Driver errors become domain errors in one place (`_domain_error`).

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

Each file keeps its dense position in its folder (`seq`: 0, 1, 2... in the
order of creation), so page n of a folder is an index seek to seq 20n instead
of an OFFSET that walks 20n index entries: page 400 costs what page 0 costs.
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
from ..errors import EmailTaken, StorageBusy, StorageFull, StorageUnavailable
from .base import (
    DEFAULT_WRITE_TIMEOUT,
    PAGE_SIZE,
    ROOT,
    FileRecord,
    NewFile,
    ParentId,
    User,
    blob_name,
    email_key,
    is_id,
    is_root,
    is_storable_text,
    new_id,
)
from .guard import domain_errors, unstorable_text
from .sqlite_migrations import fill_email_keys, migrate
from .sqlite_writes import WriteQueue

T = TypeVar("T")

_CONNECT_TIMEOUT = 10.0  # opening (and migrating) waits this long for another process's lock

_FILE_COLUMNS = "id, user_id, name, type, is_public, parent_id, local_path"
_REMEMBERED_FILES = 10_000  # beyond this the memory is emptied and refilled
_UNKNOWN = object()


def sqlite_path(url: str) -> Path:
    """sqlite:///relative/to/project or sqlite:////absolute/path."""
    raw = url.removeprefix("sqlite:///")
    path = Path(raw)
    return path if path.is_absolute() else PROJECT_ROOT / path


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                           timeout=_CONNECT_TIMEOUT)
    conn.execute("PRAGMA synchronous = NORMAL")  # durable across crashes of the process in WAL mode
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _file(row: tuple) -> FileRecord:
    file_id, user_id, name, type_, is_public, parent_id, local_path = row
    return FileRecord(
        id=file_id,
        user_id=user_id,
        name=name,
        type=type_,
        is_public=bool(is_public),
        parent_id=ROOT if parent_id == "0" else parent_id,
        local_path=local_path,
    )


def _user(row: tuple | None) -> User | None:
    return None if row is None else User(id=row[0], email=row[1], password_hash=row[2])


def _domain_error(exc: Exception) -> Exception | None:
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


@domain_errors(_domain_error)
class SQLiteStorage:
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

    @classmethod
    async def open(cls, url: str, write_timeout: float = DEFAULT_WRITE_TIMEOUT) -> SQLiteStorage:
        """Open (creating it if need be) and migrate the database (sqlite_migrations.py)."""
        path = sqlite_path(url)

        def setup() -> tuple[sqlite3.Connection, sqlite3.Connection]:
            path.parent.mkdir(parents=True, exist_ok=True)
            writer = _connect(path)
            try:
                writer.execute("PRAGMA journal_mode = WAL")
                migrate(writer, path)
                fill_email_keys(writer, path)
                return _connect(path), writer
            except BaseException:
                writer.close()
                raise

        reader, writer = await asyncio.to_thread(setup)
        return cls(path, reader, writer, write_timeout)

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
        """The file with this id, whoever owns it (callers scope it), from
        memory when this snapshot already read it (see the module doc)."""
        if not isinstance(file_id, str):
            return None
        if not self._in_read:
            self._begin_read()
        record = self._files.get(file_id, _UNKNOWN)
        if record is _UNKNOWN:
            record = None
            if is_id(file_id):
                row = self._reader.execute(
                    f"SELECT {_FILE_COLUMNS} FROM files WHERE id = ?", (file_id.lower(),)
                ).fetchone()
                record = None if row is None else _file(row)
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

    async def ping(self) -> bool:
        try:
            self._read("SELECT 1").fetchone()
            return True
        except sqlite3.Error:
            return False

    async def close(self) -> None:
        self._end_read()
        self._writes.close()
        self._reader.close()

    # users

    async def create_user(self, email: str, password_hash: str) -> User:
        user = User(id=new_id(), email=email, password_hash=password_hash)

        def insert(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    "INSERT INTO users (id, email, password, email_key) VALUES (?, ?, ?, ?)",
                    (user.id, email, password_hash, email_key(email)),
                )
            except sqlite3.IntegrityError:  # the unique email_key (or exact email)
                raise EmailTaken() from None

        await self._transaction(insert)
        return user

    async def delete_user(self, user_id: str) -> None:
        if is_id(user_id):
            await self._write("DELETE FROM users WHERE id = ?", (user_id.lower(),))

    async def user_by_id(self, user_id: str) -> User | None:
        if not is_id(user_id):
            return None
        return _user(
            self._read(
                "SELECT id, email, password FROM users WHERE id = ?", (user_id.lower(),)
            ).fetchone()
        )

    async def user_by_email(self, email: str) -> User | None:
        if not is_storable_text(email):
            return None  # nothing stored can match it
        # The exact email first: of legacy accounts differing only in case, only
        # the oldest has the key (sqlite_migrations._v2_email_key).
        return _user(
            self._read(
                "SELECT id, email, password FROM users WHERE email = ?1 OR email_key = ?2"
                " ORDER BY email = ?1 DESC LIMIT 1",
                (email, email_key(email)),
            ).fetchone()
        )

    async def set_password_hash(self, user_id: str, old_hash: str, new_hash: str) -> bool:
        if not is_id(user_id):
            return False
        rows = await self._write(
            "UPDATE users SET password = ? WHERE id = ? AND password = ? RETURNING id",
            (new_hash, user_id.lower(), old_hash),
        )
        return bool(rows)

    async def count_users(self) -> int:
        return self._read("SELECT count(*) FROM users").fetchone()[0]

    # files

    async def create_file(self, new: NewFile) -> FileRecord:
        record = FileRecord(
            id=new_id(),
            user_id=new.user_id,
            name=new.name,
            type=new.type,
            is_public=new.is_public,
            parent_id=ROOT if is_root(new.parent_id) else str(new.parent_id).lower(),
            local_path=new.local_path,
        )
        parent_key = "0" if record.parent_id == ROOT else record.parent_id

        def insert(conn: sqlite3.Connection) -> None:
            (last,) = conn.execute(
                "SELECT max(seq) FROM files WHERE user_id = ? AND parent_id = ?",
                (record.user_id, parent_key),
            ).fetchone()
            conn.execute(
                f"INSERT INTO files ({_FILE_COLUMNS}, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (record.id, record.user_id, record.name, record.type, int(record.is_public),
                 parent_key, record.local_path, 0 if last is None else last + 1),
            )

        await self._transaction(insert)
        return record

    async def delete_file(self, user_id: str, file_id: str) -> None:
        if not (is_id(user_id) and is_id(file_id)):
            return
        user_id, file_id = user_id.lower(), file_id.lower()

        def delete(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "DELETE FROM files WHERE id = ? AND user_id = ? RETURNING parent_id, seq",
                (file_id, user_id),
            ).fetchone()
            if row is None:
                return
            # Close the gap so positions stay dense; the unique index forbids a
            # one-statement shift, so move the tail out of the way and back.
            parent_key, seq = row
            where = "user_id = ? AND parent_id = ? AND seq > ?"
            conn.execute(f"UPDATE files SET seq = -seq WHERE {where}", (user_id, parent_key, seq))
            conn.execute(
                "UPDATE files SET seq = -seq - 1 WHERE user_id = ? AND parent_id = ? AND seq < 0",
                (user_id, parent_key),
            )

        await self._transaction(delete)

    async def file_of_user(self, user_id: str, file_id: str) -> FileRecord | None:
        record = self._file_by_id(file_id)
        return record if record is not None and record.user_id == user_id else None

    async def file_readable_by(self, user_id: str | None, file_id: str) -> FileRecord | None:
        record = self._file_by_id(file_id)
        if record is None or not (record.is_public or (user_id is not None and record.user_id == user_id)):
            return None
        return record

    async def children(self, user_id: str, parent_id: ParentId, page: int) -> list[FileRecord]:
        if not is_id(user_id):
            return []
        user_id = user_id.lower()
        if is_root(parent_id):
            parent_key = "0"
        elif is_id(parent_id):
            parent_key = str(parent_id).lower()
        else:
            return []
        rows = self._read(
            f"SELECT {_FILE_COLUMNS} FROM files WHERE user_id = ? AND parent_id = ? AND seq >= ?"
            " ORDER BY seq LIMIT ?",
            (user_id, parent_key, page * PAGE_SIZE, PAGE_SIZE),
        ).fetchall()
        return [_file(row) for row in rows]

    async def set_public(self, user_id: str, file_id: str, is_public: bool) -> FileRecord | None:
        if not (is_id(user_id) and is_id(file_id)):
            return None
        rows = await self._write(
            f"UPDATE files SET is_public = ? WHERE id = ? AND user_id = ? RETURNING {_FILE_COLUMNS}",
            (int(is_public), file_id.lower(), user_id.lower()),
        )
        return _file(rows[0]) if rows else None

    async def count_files(self) -> int:
        return self._read("SELECT count(*) FROM files").fetchone()[0]

    # orphan blobs: the job worker's sweep (services/worker/sweeper.py)
    async def blobs_in_use(self, names: set[str]) -> tuple[set[str], int]:
        def scan() -> tuple[set[str], int]:
            # A connection of its own, in a thread: a full scan must hold
            # neither the event loop nor the writer.
            conn = _connect(self.path)
            try:
                in_use: set[str] = set()
                total = 0
                for (path,) in conn.execute("SELECT local_path FROM files WHERE local_path IS NOT NULL"):
                    total += 1
                    name = blob_name(path)
                    if name in names:
                        in_use.add(name)
                return in_use, total
            finally:
                conn.close()

        return await asyncio.to_thread(scan)
