"""PostgreSQL backend: one database shared by any number of nodes.

PostgresStorage is the one class open_storage returns. Its parts live beside
it, each a class over the shared pool (pg_core.py: reads, transactions under
the user's lock, rows): files (pg_files.py), lists and search (pg_lists.py),
the trash (pg_trash.py), share links (pg_links.py), tus uploads
(pg_uploads.py), the operator's fsck walk (pg_scan.py), the operator's
account changes (pg_accounts.py); users, usage and the sweep's scan are here.

The schema is versioned SQL (pg_migrations.py), brought up to date at open
or, with storage.migrate = "manual", only by `python supervisor.py migrate`.
Driver errors become domain errors in one place (pg_core.domain_error).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import asyncpg

from ..config import redact
from ..errors import EmailTaken
from .base import DEFAULT_WRITE_TIMEOUT, POOL_SIZE, Usage, User, blob_name, email_key, is_id, is_storable_text, new_id
from .guard import domain_errors
from .pg_accounts import USER_COLUMNS, AccountsPart, user_record
from .pg_core import _USED_AND_RESERVED, CONNECT_TIMEOUT, domain_error
from .pg_files import FilesPart
from .pg_links import LinksPart
from .pg_lists import ListsPart
from .pg_migrations import prepare
from .pg_scan import ScanPart
from .pg_trash import TrashPart
from .pg_uploads import UploadsPart

_SCAN_BATCH = 10_000  # rows the sweep's scan fetches at a time


async def create_pool(url: str, write_timeout: float, max_size: int = POOL_SIZE) -> asyncpg.Pool:
    """A pool on `url`; a lock not granted within `write_timeout` fails the
    statement (lock_timeout: StorageBusy), so no write waits longer."""
    return await asyncpg.create_pool(
        url, min_size=1, max_size=max_size, timeout=CONNECT_TIMEOUT,
        server_settings={"application_name": "files-manager",
                         "lock_timeout": str(max(1, int(write_timeout * 1000)))},
    )


@domain_errors(domain_error)
class PostgresStorage(FilesPart, ListsPart, TrashPart, LinksPart, UploadsPart, ScanPart, AccountsPart):
    @classmethod
    async def open(cls, url: str, write_timeout: float = DEFAULT_WRITE_TIMEOUT,
                   migrate: str = "auto", pool_size: int = POOL_SIZE) -> PostgresStorage:
        """Connect, then migrate ("auto") or refuse an old schema ("manual")."""
        pool = await create_pool(url, write_timeout, pool_size)
        try:
            async with pool.acquire(timeout=CONNECT_TIMEOUT) as conn:
                await prepare(conn, redact(url), migrate)
        except BaseException:
            await pool.close()
            raise
        return cls(url, pool, write_timeout)

    async def ping(self, timeout: float = 1.0) -> bool:
        """A connection and a read of a real table within `timeout`."""
        async def check() -> None:
            async with self._pool.acquire(timeout=timeout) as conn:
                await conn.fetchval("SELECT 1 FROM users LIMIT 1")

        try:
            await asyncio.wait_for(check(), timeout)
        except (TimeoutError, Exception):  # noqa: BLE001 - any failure is "does not answer"
            return False
        return True

    async def close(self) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._pool.close(), CONNECT_TIMEOUT)
            return
        self._pool.terminate()

    # users

    async def create_user(self, email: str, password_hash: str) -> User:
        user = User(id=new_id(), email=email, password_hash=password_hash, created_at=time.time())
        try:
            await self._fetch(
                "INSERT INTO users (id, email, password, email_key, created_at) VALUES ($1, $2, $3, $4, $5)",
                user.id, email, password_hash, email_key(email), user.created_at)
        except asyncpg.UniqueViolationError:  # the unique email_key: racing sign-ups cannot both pass
            raise EmailTaken() from None
        return user

    async def delete_user(self, user_id: str) -> None:
        if is_id(user_id):
            await self._fetch("DELETE FROM users WHERE id = $1", user_id.lower())

    async def user_by_id(self, user_id: str) -> User | None:
        if not is_id(user_id):
            return None
        return user_record(await self._fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id.lower()))

    async def user_by_email(self, email: str) -> User | None:
        if not is_storable_text(email) or "\x00" in email:
            return None  # nothing stored can match it
        return user_record(await self._fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE email_key = $1",
                                                email_key(email)))

    async def set_password_hash(self, user_id: str, old_hash: str, new_hash: str) -> bool:
        if not is_id(user_id):
            return False
        found = await self._fetchval("UPDATE users SET password = $1 WHERE id = $2 AND password = $3 RETURNING id",
                                     new_hash, user_id.lower(), old_hash)
        return found is not None

    async def count_users(self) -> int:
        return await self._fetchval("SELECT count(*) FROM users")

    async def usage(self, user_id: str) -> Usage:
        row = await self._fetchrow(_USED_AND_RESERVED, user_id.lower()) if is_id(user_id) else None
        return Usage(0, 0, None) if row is None else Usage(*row)

    async def set_quota(self, user_id: str, quota_bytes: int | None) -> bool:
        if not is_id(user_id):
            return False
        found = await self._fetchval("UPDATE users SET quota_bytes = $1 WHERE id = $2 RETURNING id",
                                     quota_bytes, user_id.lower())
        return found is not None

    # orphan blobs: the job worker's sweep (services/worker/sweeper.py)
    async def blobs_in_use(self, names: set[str]) -> tuple[set[str], int]:
        in_use: set[str] = set()
        total = 0
        async with self._pool.acquire(timeout=self._wait) as conn, conn.transaction(readonly=True):
            # A server-side cursor: the paths arrive a batch at a time, never all at once.
            async for (path,) in conn.cursor("SELECT local_path FROM files WHERE local_path IS NOT NULL",
                                             prefetch=_SCAN_BATCH):
                total += 1
                name = blob_name(path)
                if name in names:
                    in_use.add(name)
        return in_use, total
