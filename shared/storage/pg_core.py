"""The PostgreSQL backend's pool, reads and transactions, shared by its parts
(pg.py users, pg_files.py, pg_lists.py, pg_trash.py, pg_links.py,
pg_uploads.py, pg_scan.py, pg_accounts.py), and the rows-to-records conversions.

Several nodes write to one database, so a write that must agree with what it
read (usage counters and the files they count, a quota, a move's cycle
check, a folder's v1 positions, the trash) runs in one transaction that
first locks the user's row (`SELECT ... FOR UPDATE`): every such write of one
user is serialised, whichever node runs it, and each then reads what the
previous one committed (READ COMMITTED: every statement sees the latest
commits). Writes of different users never wait for each other. Every
transaction takes the user's lock before any other row's, so they cannot
deadlock among themselves.

Waits are bounded by storage.write_timeout: for a connection of the pool,
and for a lock (the server's lock_timeout); past it, StorageBusy.

PostgreSQL's text cannot hold U+0000, which a v1 name may: names are stored
with it as U+FDD0, a noncharacter, and a name holding U+FDD0 itself is
refused (Invalid) rather than read back changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from ..errors import Invalid, NotFound, QuotaExceeded, StorageBusy, StorageFull, StorageUnavailable
from .base import NOT_A_FOLDER, PARENT_NOT_FOUND, ROOT, FileRecord, ParentId, is_id, is_root
from .guard import UNSTORABLE_TEXT, unstorable_text

T = TypeVar("T")

# What a part's steps get: a pool's connection (a proxy) or one of its own (migrations).
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
Step = Callable[[Connection], Awaitable[T]]

CONNECT_TIMEOUT = 10.0
MAX_DEPTH = 10_000  # a parent chain longer than this is a cycle left by other tools
_DEADLOCK_RETRIES = 3  # a deadlock with a writer from outside this code: the loser tries again

FILE_COLUMNS = ("id, user_id, name, type, is_public, parent_id, local_path, size, sha256, mime_type,"
                " created_at, updated_at, trashed_at, trash_id, has_thumbnails")

_NUL, _STAND_IN = "\x00", "\ufdd0"


def stored_name(name: str) -> str:
    """How a name (or name key) is stored: U+0000 as U+FDD0 (see the module doc)."""
    if _STAND_IN in name:
        raise Invalid(UNSTORABLE_TEXT)
    return name.replace(_NUL, _STAND_IN)


def shown_name(stored: str) -> str:
    return stored.replace(_STAND_IN, _NUL) if _STAND_IN in stored else stored


def file_record(row: Any) -> FileRecord:
    """A FileRecord from FILE_COLUMNS."""
    (file_id, user_id, name, type_, is_public, parent_id, local_path, size, sha256, mime_type,
     created_at, updated_at, trashed_at, trash_id, has_thumbnails) = tuple(row)[:15]
    return FileRecord(
        file_id, user_id, shown_name(name), type_, is_public, ROOT if parent_id == "0" else parent_id,
        local_path, size, sha256, mime_type, created_at, updated_at, trashed_at, trash_id, has_thumbnails,
    )


def parent_key(parent_id: ParentId) -> str | None:
    """How a parent is stored ('0' for the root, ids in lowercase); None when
    it is neither the root nor an id (matches nothing)."""
    if is_root(parent_id):
        return "0"
    if is_id(parent_id):
        return str(parent_id).lower()
    return None


async def lock_user(conn: Connection, user_id: str) -> None:
    """Hold the user's row until the transaction ends (see the module doc).
    A user without a row (removed by other tools) has nothing to lock."""
    await conn.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user_id)


async def live_folder_key(conn: Connection, user_id: str, parent_id: ParentId) -> str:
    """The stored key of `parent_id` if it is the root or a live folder of the
    user, read in the caller's transaction; else Invalid, as the API says it."""
    key = parent_key(parent_id)
    if key == "0":
        return key
    row = None if key is None else await conn.fetchrow(
        "SELECT type, trashed_at FROM files WHERE id = $1 AND user_id = $2", key, user_id)
    if key is None or row is None or row[1] is not None:
        raise Invalid(PARENT_NOT_FOUND)
    if row[0] != "folder":
        raise Invalid(NOT_A_FOLDER)
    return key


_USED_AND_RESERVED = ("SELECT used_bytes, (SELECT coalesce(sum(length), 0) FROM uploads"
                      " WHERE user_id = $1 AND file_id IS NULL)::bigint, quota_bytes FROM users WHERE id = $1")


async def check_quota(conn: Connection, user_id: str, more: int, quota: int | None) -> None:
    """QuotaExceeded if `more` bytes would take the user's used + reserved
    bytes past `quota` (None: unlimited), read under the user's lock. Adding
    nothing is never refused, so a user over a lowered quota can still make
    folders and shrink files."""
    if quota is None or more <= 0:
        return
    row = await conn.fetchrow(_USED_AND_RESERVED, user_id)
    used, reserved = (row[0], row[1]) if row is not None else (0, 0)
    if used + reserved + more > quota:
        raise QuotaExceeded()


async def add_used_bytes(conn: Connection, user_id: str, delta: int) -> None:
    if delta:
        await conn.execute("UPDATE users SET used_bytes = used_bytes + $1 WHERE id = $2", delta, user_id)


async def append_seq(conn: Connection, user_id: str, key: str) -> int:
    """The v1 position after the last of the folder's (an index seek; the
    user's lock keeps two writers from taking the same one)."""
    last = await conn.fetchval("SELECT max(seq) FROM files WHERE user_id = $1 AND parent_id = $2", user_id, key)
    return 0 if last is None else last + 1


async def leave_order(conn: Connection, user_id: str, key: str, seq: int | None) -> None:
    """Close the gap an item leaving position `seq` of a folder's v1 order
    makes, so positions stay dense."""
    if seq is not None:
        await conn.execute("UPDATE files SET seq = seq - 1 WHERE user_id = $1 AND parent_id = $2 AND seq > $3",
                           user_id, key, seq)


_BUSY = (asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError, asyncpg.SerializationError,
         asyncpg.QueryCanceledError, asyncpg.TooManyConnectionsError)
_FULL = (asyncpg.DiskFullError, asyncpg.OutOfMemoryError, asyncpg.ProgramLimitExceededError)
_BAD_TEXT = (asyncpg.CharacterNotInRepertoireError, asyncpg.UntranslatableCharacterError)


def domain_error(exc: Exception) -> Exception | None:
    """The domain error for a driver's exception (None: not one of ours to translate)."""
    if isinstance(exc, _BAD_TEXT):
        return Invalid(UNSTORABLE_TEXT)
    if isinstance(exc, _BUSY):
        return StorageBusy(f"PostgreSQL: {exc}")
    if isinstance(exc, _FULL):
        return StorageFull(f"PostgreSQL: {exc}")
    if isinstance(exc, TimeoutError):  # no connection of the pool free within the write timeout
        return StorageBusy(f"PostgreSQL: no connection free in time ({exc or 'storage.write_timeout'})")
    if isinstance(exc, asyncpg.DataError) and isinstance(exc.__cause__, UnicodeEncodeError):
        return Invalid(UNSTORABLE_TEXT)
    if isinstance(exc, (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)):
        # Down, refusing, restarting, a connection the server ended (the
        # driver's InternalClientError when it learns so mid-request), a closed
        # pool, a schema that is not ours: the database is not usable now,
        # whatever the request.
        return StorageUnavailable(f"PostgreSQL: {type(exc).__name__}: {exc}")
    return unstorable_text(exc)


class PGCore:
    """The pool and how it is used; the parts add the methods."""

    def __init__(self, url: str, pool: asyncpg.Pool, write_timeout: float) -> None:
        self.url = url
        self._pool = pool
        self._wait = write_timeout

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self._pool.acquire(timeout=self._wait) as conn:
            return await conn.fetch(sql, *args)

    async def _fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        async with self._pool.acquire(timeout=self._wait) as conn:
            return await conn.fetchrow(sql, *args)

    async def _fetchval(self, sql: str, *args: Any) -> Any:
        async with self._pool.acquire(timeout=self._wait) as conn:
            return await conn.fetchval(sql, *args)

    async def _file_by_id(self, file_id: str) -> FileRecord | None:
        """The file with this id, live or trashed, whoever owns it (callers scope it)."""
        if not is_id(file_id):
            return None
        row = await self._fetchrow(f"SELECT {FILE_COLUMNS} FROM files WHERE id = $1", file_id.lower())
        return None if row is None else file_record(row)

    async def _transaction(self, steps: Step[T], user_id: str | None = None) -> T:
        """`steps(conn)` in one transaction, after locking `user_id`'s row when given."""
        for attempt in range(_DEADLOCK_RETRIES):
            try:
                async with self._pool.acquire(timeout=self._wait) as conn, conn.transaction():
                    if user_id is not None:
                        await lock_user(conn, user_id)
                    return await steps(conn)
            except asyncpg.DeadlockDetectedError:
                if attempt == _DEADLOCK_RETRIES - 1:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")


def owned_ids(user_id: str, file_id: str) -> tuple[str, str]:
    """A user's and a file's ids as stored (lower case); NotFound for anything
    that is not an id, which no row can hold."""
    if not (is_id(user_id) and is_id(file_id)):
        raise NotFound()
    return user_id.lower(), file_id.lower()
