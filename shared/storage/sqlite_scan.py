"""SQLite: the operator's consistency check (`fsck`): every file with a blob,
a page at a time, and the users whose used bytes drifted from their files.

Each read is a whole-table walk or aggregate, so it runs in a thread on a
connection of its own: it holds neither the event loop nor the writer. Only
`used_bytes` is stored; reserved bytes are summed from the uploads on every
read (sqlite.py `usage`), so they cannot drift.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import TypeVar

from .base import FileRecord, Usage, UsageDrift, is_id
from .guard import domain_errors
from .sqlite_core import FILE_COLUMNS, SQLiteCore, connect, domain_error, file_record

T = TypeVar("T")

_RECOUNT = "(SELECT coalesce(sum(size), 0) FROM files WHERE files.user_id = users.id)"


@domain_errors(domain_error)
class ScanPart(SQLiteCore):
    async def _scan(self, read: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            conn = connect(self.path)
            try:
                return read(conn)
            finally:
                conn.close()

        return await asyncio.to_thread(run)

    async def count_files_with_blobs(self) -> int:
        return await self._scan(
            lambda conn: conn.execute("SELECT count(*) FROM files WHERE local_path IS NOT NULL").fetchone()[0])

    async def files_with_blobs(self, after: str | None, limit: int) -> list[FileRecord]:
        def read(conn: sqlite3.Connection) -> list[FileRecord]:
            rows = conn.execute(
                f"SELECT {FILE_COLUMNS} FROM files WHERE local_path IS NOT NULL AND id > ?"
                " ORDER BY id LIMIT ?", ("" if after is None else after.lower(), limit))
            return [file_record(row) for row in rows]

        return await self._scan(read)

    async def usage_drifts(self) -> list[UsageDrift]:
        def read(conn: sqlite3.Connection) -> list[UsageDrift]:
            rows = conn.execute(
                "SELECT users.id, users.email, users.used_bytes, coalesce(counted.total, 0),"
                " (SELECT coalesce(sum(length), 0) FROM uploads"
                "  WHERE uploads.user_id = users.id AND file_id IS NULL)"
                " FROM users LEFT JOIN (SELECT user_id, sum(size) AS total FROM files GROUP BY user_id)"
                " AS counted ON counted.user_id = users.id"
                " WHERE users.used_bytes IS NOT coalesce(counted.total, 0) ORDER BY users.id")
            return [UsageDrift(user_id, email, used or 0, reserved, counted, reserved)
                    for user_id, email, used, counted, reserved in rows]

        return await self._scan(read)

    async def recount_usage(self, user_id: str) -> Usage:
        if not is_id(user_id):
            return Usage(0, 0, None)

        def recount(conn: sqlite3.Connection) -> Usage:
            row = conn.execute(
                f"UPDATE users SET used_bytes = {_RECOUNT} WHERE id = ?1 RETURNING used_bytes,"
                " (SELECT coalesce(sum(length), 0) FROM uploads WHERE user_id = ?1 AND file_id IS NULL),"
                " quota_bytes", (user_id.lower(),)).fetchone()
            return Usage(0, 0, None) if row is None else Usage(*row)

        return await self._transaction(recount)
