"""PostgreSQL: the trash and purges.

Trashing marks the item and every live row below it (trashed_at, and
trash_id = the item's id) in one transaction; only the item leaves its
folder's v1 order, the rows below keep their positions, so a restore brings
the whole tree back as it was with a single UPDATE by trash_id. The tops of
deletions are the rows whose trash_id is their own id (a partial index).
A purge deletes the tree below an item whatever its state, with the share
links of every row, and takes the bytes off the user's count. Each runs
under the user's lock (pg_core.py), so a trash, a restore, a purge and a
move of one user never interleave, whichever nodes run them.
"""

from __future__ import annotations

from ..errors import NotFound
from .base import FileRecord, is_id
from .guard import domain_errors
from .pg_core import (
    FILE_COLUMNS,
    MAX_DEPTH,
    Connection,
    PGCore,
    add_used_bytes,
    append_seq,
    domain_error,
    file_record,
    leave_order,
    owned_ids,
)

# The rows below a folder, as (id), by a recursive walk of the parent links
# (each level one index seek per folder), stopping at cycles left by other tools.
_BELOW = """WITH RECURSIVE below(id, depth) AS (
        SELECT id, 1 FROM files WHERE user_id = $1 AND parent_id = $2 {live}
        UNION
        SELECT f.id, below.depth + 1 FROM files f JOIN below ON f.parent_id = below.id
        WHERE f.user_id = $1 {live_f} AND below.depth < {depth}
    )"""


def _below(live_only: bool) -> str:
    return _BELOW.format(live="AND trashed_at IS NULL" if live_only else "",
                         live_f="AND f.trashed_at IS NULL" if live_only else "", depth=MAX_DEPTH)


async def _purge(conn: Connection, user_id: str, file_id: str) -> list[str]:
    """Delete the user's item `file_id` and everything below it, live or
    trashed, with their links and bytes, in the caller's transaction (under
    the user's lock); the blob paths. NotFound when it is not the user's."""
    top = await conn.fetchrow(
        "DELETE FROM files WHERE id = $1 AND user_id = $2 RETURNING id, type, local_path, size, parent_id, seq",
        file_id, user_id)
    if top is None:
        raise NotFound()
    rows = [tuple(top)[:4]]
    if top["type"] == "folder":
        below = await conn.fetch(
            f"{_below(False)} DELETE FROM files WHERE id IN (SELECT id FROM below)"
            " RETURNING id, type, local_path, size", user_id, file_id)
        rows += [tuple(row) for row in below]
    await conn.execute("DELETE FROM share_links WHERE user_id = $1 AND file_id = ANY($2::text[])",
                       user_id, [row[0] for row in rows])
    await leave_order(conn, user_id, top["parent_id"], top["seq"])
    await add_used_bytes(conn, user_id, -sum(row[3] or 0 for row in rows))
    return [row[2] for row in rows if row[2] is not None]


@domain_errors(domain_error)
class TrashPart(PGCore):
    async def trash_file(self, user_id: str, file_id: str, now: float) -> FileRecord:
        user_id, file_id = owned_ids(user_id, file_id)

        async def trash(conn: Connection) -> FileRecord:
            row = await conn.fetchrow(
                "UPDATE files AS f SET trashed_at = $3, trash_id = f.id, seq = NULL FROM files AS old"
                " WHERE f.id = $1 AND f.user_id = $2 AND f.trashed_at IS NULL AND old.id = f.id"
                " RETURNING old.seq, old.type, old.parent_id", file_id, user_id, now)
            if row is None:
                raise NotFound()
            if row["type"] == "folder":
                # Below a trashed row everything is trashed already: only live rows are walked.
                await conn.execute(
                    f"{_below(True)} UPDATE files SET trashed_at = $3, trash_id = $2"
                    " WHERE id IN (SELECT id FROM below)", user_id, file_id, now)
            await leave_order(conn, user_id, row["parent_id"], row["seq"])
            return file_record(await conn.fetchrow(f"SELECT {FILE_COLUMNS} FROM files WHERE id = $1", file_id))

        return await self._transaction(trash, user_id)

    async def restore_file(self, user_id: str, file_id: str, now: float) -> FileRecord:
        user_id, file_id = owned_ids(user_id, file_id)

        async def restore(conn: Connection) -> FileRecord:
            key = await conn.fetchval(
                "SELECT parent_id FROM files WHERE id = $1 AND user_id = $2 AND trash_id = id", file_id, user_id)
            if key is None:
                raise NotFound()
            if key != "0":
                parent = await conn.fetchrow(
                    "SELECT type, trashed_at FROM files WHERE id = $1 AND user_id = $2", key, user_id)
                if parent is None or parent[0] != "folder" or parent[1] is not None:
                    key = "0"  # its folder is gone or trashed: to the root
            seq = await append_seq(conn, user_id, key)
            await conn.execute("UPDATE files SET trashed_at = NULL, trash_id = NULL"
                               " WHERE trash_id = $1 AND user_id = $2", file_id, user_id)
            restored = await conn.fetchrow(
                f"UPDATE files SET parent_id = $1, seq = $2, updated_at = $3 WHERE id = $4 RETURNING {FILE_COLUMNS}",
                key, seq, now, file_id)
            return file_record(restored)

        return await self._transaction(restore, user_id)

    async def trashed_files(self, user_id: str, limit: int, after: tuple[float, str] | None) -> list[FileRecord]:
        if not is_id(user_id):
            return []
        if after is None:
            rows = await self._fetch(
                f"SELECT {FILE_COLUMNS} FROM files WHERE user_id = $1 AND trash_id = id"
                " ORDER BY trashed_at DESC, id DESC LIMIT $2", user_id.lower(), limit)
        else:
            rows = await self._fetch(
                f"SELECT {FILE_COLUMNS} FROM files WHERE user_id = $1 AND trash_id = id"
                " AND (trashed_at, id) < ($2, $3) ORDER BY trashed_at DESC, id DESC LIMIT $4",
                user_id.lower(), float(after[0]), str(after[1]).lower(), limit)
        return [file_record(row) for row in rows]

    async def purge_file(self, user_id: str, file_id: str) -> list[str]:
        user_id, file_id = owned_ids(user_id, file_id)
        return await self._transaction(lambda conn: _purge(conn, user_id, file_id), user_id)

    async def purge_trash(self, user_id: str) -> list[str]:
        if not is_id(user_id):
            return []
        user_id = user_id.lower()

        async def purge(conn: Connection) -> list[str]:
            tops = await conn.fetch("SELECT id FROM files WHERE user_id = $1 AND trash_id = id", user_id)
            paths: list[str] = []
            for (top,) in tops:
                # A top below another top of the list went with it.
                if await conn.fetchval("SELECT 1 FROM files WHERE id = $1", top) is not None:
                    paths += await _purge(conn, user_id, top)
            return paths

        return await self._transaction(purge, user_id)

    async def trashed_before(self, cutoff: float, limit: int) -> list[FileRecord]:
        rows = await self._fetch(
            f"SELECT {FILE_COLUMNS} FROM files WHERE trash_id = id AND trashed_at < $1 ORDER BY trashed_at LIMIT $2",
            cutoff, limit)
        return [file_record(row) for row in rows]
