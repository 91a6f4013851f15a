"""SQLite backend: the embedded default, so the service runs with nothing but Redis.

SQLiteStorage is the one class open_storage returns. Its parts live beside
it, each a class over the shared connections (sqlite_core.py: reads, writes,
rows): files and lists (sqlite_files.py), the trash (sqlite_trash.py), share
links (sqlite_links.py), tus uploads (sqlite_uploads.py), the operator's
fsck walk (sqlite_scan.py), the operator's account changes (sqlite_accounts.py);
users, usage and the sweep's scan are here.

The schema is versioned (sqlite_migrations.py) and brought up to date at open.
Driver errors become domain errors in one place (sqlite_core.domain_error),
which every part's public methods raise through.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

from ..errors import EmailTaken
from .base import DEFAULT_WRITE_TIMEOUT, Usage, User, blob_name, email_key, is_id, is_storable_text, new_id
from .guard import domain_errors
from .sqlite_accounts import USER_COLUMNS, AccountsPart, user_record
from .sqlite_core import connect, domain_error, sqlite_path
from .sqlite_files import FilesPart
from .sqlite_links import LinksPart
from .sqlite_lists import ListsPart
from .sqlite_migrations import fill_email_keys, fill_file_keys, migrate, refuse_old
from .sqlite_scan import ScanPart
from .sqlite_trash import TrashPart
from .sqlite_uploads import UploadsPart


@domain_errors(domain_error)
class SQLiteStorage(FilesPart, ListsPart, TrashPart, LinksPart, UploadsPart, ScanPart, AccountsPart):
    @classmethod
    async def open(cls, url: str, write_timeout: float = DEFAULT_WRITE_TIMEOUT,
                   migrate_mode: str = "auto") -> SQLiteStorage:
        """Open (creating it if need be) and migrate the database
        (sqlite_migrations.py); with `migrate_mode` "manual" (storage.migrate),
        refuse an old schema instead."""
        path = sqlite_path(url)

        def setup() -> tuple[sqlite3.Connection, sqlite3.Connection]:
            path.parent.mkdir(parents=True, exist_ok=True)
            writer = connect(path)
            try:
                writer.execute("PRAGMA journal_mode = WAL")
                if migrate_mode == "manual":
                    refuse_old(writer, path)
                migrate(writer, path)
                fill_email_keys(writer, path)
                fill_file_keys(writer)
                return connect(path), writer
            except BaseException:
                writer.close()
                raise

        reader, writer = await asyncio.to_thread(setup)
        return cls(path, reader, writer, write_timeout)

    async def ping(self, timeout: float = 1.0) -> bool:
        return await self._ping(timeout)

    async def close(self) -> None:
        self._ping.close()
        self._end_read()
        self._writes.close()
        self._reader.close()

    # users

    async def create_user(self, email: str, password_hash: str) -> User:
        user = User(id=new_id(), email=email, password_hash=password_hash, created_at=time.time())

        def insert(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    "INSERT INTO users (id, email, password, email_key, created_at) VALUES (?, ?, ?, ?, ?)",
                    (user.id, email, password_hash, email_key(email), user.created_at),
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
        return user_record(self._read(f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", (user_id.lower(),)).fetchone())

    async def user_by_email(self, email: str) -> User | None:
        if not is_storable_text(email):
            return None  # nothing stored can match it
        # The exact email first: of legacy accounts differing only in case, only
        # the oldest has the key (sqlite_migrations._v2_email_key).
        return user_record(
            self._read(
                f"SELECT {USER_COLUMNS} FROM users WHERE email = ?1 OR email_key = ?2"
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

    async def usage(self, user_id: str) -> Usage:
        row = None
        if is_id(user_id):
            row = self._read(
                "SELECT used_bytes, (SELECT coalesce(sum(length), 0) FROM uploads"
                " WHERE user_id = ?1 AND file_id IS NULL), quota_bytes FROM users WHERE id = ?1",
                (user_id.lower(),),
            ).fetchone()
        return Usage(0, 0, None) if row is None else Usage(*row)

    async def set_quota(self, user_id: str, quota_bytes: int | None) -> bool:
        if not is_id(user_id):
            return False
        rows = await self._write("UPDATE users SET quota_bytes = ? WHERE id = ? RETURNING id",
                                 (quota_bytes, user_id.lower()))
        return bool(rows)

    # orphan blobs: the job worker's sweep (services/worker/sweeper.py)
    async def blobs_in_use(self, names: set[str]) -> tuple[set[str], int]:
        def scan() -> tuple[set[str], int]:
            # A connection of its own, in a thread: a full scan must hold
            # neither the event loop nor the writer.
            conn = connect(self.path)
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
