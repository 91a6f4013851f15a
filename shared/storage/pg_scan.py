"""PostgreSQL: the operator's consistency check (`fsck`): every file with a
blob, a page at a time by id (an index walk: files_with_blobs), and the users
whose used bytes drifted from their files. Only `used_bytes` is stored;
reserved bytes are summed from the uploads on every read (pg.py `usage`), so
they cannot drift."""

from __future__ import annotations

from .base import FileRecord, Usage, UsageDrift, is_id
from .guard import domain_errors
from .pg_core import FILE_COLUMNS, Connection, PGCore, domain_error, file_record

_RESERVED = ("(SELECT coalesce(sum(length), 0) FROM uploads WHERE uploads.user_id = users.id"
             " AND file_id IS NULL)::bigint")


@domain_errors(domain_error)
class ScanPart(PGCore):
    async def count_files_with_blobs(self) -> int:
        return await self._fetchval("SELECT count(*) FROM files WHERE local_path IS NOT NULL")

    async def files_with_blobs(self, after: str | None, limit: int) -> list[FileRecord]:
        rows = await self._fetch(
            f"SELECT {FILE_COLUMNS} FROM files WHERE local_path IS NOT NULL AND id > $1 ORDER BY id LIMIT $2",
            "" if after is None else after.lower(), limit)
        return [file_record(row) for row in rows]

    async def usage_drifts(self) -> list[UsageDrift]:
        rows = await self._fetch(
            f"SELECT users.id, users.email, users.used_bytes, coalesce(counted.total, 0)::bigint, {_RESERVED}"
            " FROM users LEFT JOIN (SELECT user_id, sum(size) AS total FROM files GROUP BY user_id)"
            " AS counted ON counted.user_id = users.id"
            " WHERE users.used_bytes IS DISTINCT FROM coalesce(counted.total, 0) ORDER BY users.id")
        return [UsageDrift(user_id, email, used or 0, reserved, counted, reserved)
                for user_id, email, used, counted, reserved in rows]

    async def recount_usage(self, user_id: str) -> Usage:
        if not is_id(user_id):
            return Usage(0, 0, None)
        user_id = user_id.lower()

        async def recount(conn: Connection) -> Usage:
            # Under the user's lock: no write of theirs runs between the sum and the update.
            row = await conn.fetchrow(
                "UPDATE users SET used_bytes = (SELECT coalesce(sum(size), 0) FROM files WHERE user_id = $1)"
                f" WHERE id = $1 RETURNING used_bytes, {_RESERVED}, quota_bytes", user_id)
            return Usage(0, 0, None) if row is None else Usage(*row)

        return await self._transaction(recount, user_id)
