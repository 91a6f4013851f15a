"""SQLite: the trash and purges.

Trashing marks the item and every live row below it (trashed_at, and
trash_id = the item's id) in one transaction; only the item leaves its
folder's v1 order, the rows below keep their positions, so a restore brings
the whole tree back as it was with a single UPDATE by trash_id. The tops of
deletions are the rows whose trash_id is their own id (a partial index).
A purge deletes the tree below an item whatever its state, with the share
links of every row, and takes the bytes off the user's count.
"""

from __future__ import annotations

import sqlite3

from ..errors import NotFound
from .base import FileRecord, is_id
from .guard import domain_errors
from .sqlite_core import (
    FILE_COLUMNS,
    SQLiteCore,
    add_used_bytes,
    append_seq,
    domain_error,
    file_record,
    leave_order,
)

# Every row below ?1 (a file id) of user ?2, ?1 included. UNION, not UNION
# ALL: a cycle left by other tools ends the walk instead of looping.
_TREE = ("WITH RECURSIVE tree(id) AS (SELECT ?1 UNION SELECT files.id FROM files JOIN tree"
         " ON files.user_id = ?2 AND files.parent_id = tree.id)")


def _purge(conn: sqlite3.Connection, user_id: str, file_id: str) -> list[str]:
    """Delete the user's item `file_id` and everything below it, with their
    links and bytes, in the caller's transaction; the blob paths. NotFound
    when it is not the user's."""
    top = conn.execute(
        "SELECT parent_id, seq FROM files WHERE id = ? AND user_id = ?", (file_id, user_id)
    ).fetchone()
    if top is None:
        raise NotFound()
    rows = conn.execute(
        f"{_TREE} DELETE FROM files WHERE user_id = ?2 AND id IN tree RETURNING id, local_path, size",
        (file_id, user_id),
    ).fetchall()
    conn.executemany("DELETE FROM share_links WHERE user_id = ? AND file_id = ?",
                     [(user_id, row[0]) for row in rows])
    leave_order(conn, user_id, top[0], top[1])
    add_used_bytes(conn, user_id, -sum(row[2] or 0 for row in rows))
    return [row[1] for row in rows if row[1] is not None]


@domain_errors(domain_error)
class TrashPart(SQLiteCore):
    async def trash_file(self, user_id: str, file_id: str, now: float) -> FileRecord:
        if not (is_id(user_id) and is_id(file_id)):
            raise NotFound()
        user_id, file_id = user_id.lower(), file_id.lower()

        def trash(conn: sqlite3.Connection) -> FileRecord:
            row = conn.execute(
                f"SELECT seq, {FILE_COLUMNS} FROM files WHERE id = ? AND user_id = ? AND trashed_at IS NULL",
                (file_id, user_id),
            ).fetchone()
            if row is None:
                raise NotFound()
            seq, record = row[0], file_record(row[1:])
            conn.execute(
                f"{_TREE} UPDATE files SET trashed_at = ?3, trash_id = ?1"
                " WHERE user_id = ?2 AND id IN tree AND trashed_at IS NULL",
                (file_id, user_id, now),
            )
            conn.execute("UPDATE files SET seq = NULL WHERE id = ?", (file_id,))
            leave_order(conn, user_id, "0" if record.parent_id == 0 else str(record.parent_id), seq)
            return file_record(conn.execute(f"SELECT {FILE_COLUMNS} FROM files WHERE id = ?",
                                            (file_id,)).fetchone())

        return await self._transaction(trash)

    async def restore_file(self, user_id: str, file_id: str, now: float) -> FileRecord:
        if not (is_id(user_id) and is_id(file_id)):
            raise NotFound()
        user_id, file_id = user_id.lower(), file_id.lower()

        def restore(conn: sqlite3.Connection) -> FileRecord:
            row = conn.execute(
                "SELECT parent_id FROM files WHERE id = ? AND user_id = ? AND trash_id = id",
                (file_id, user_id),
            ).fetchone()
            if row is None:
                raise NotFound()
            key = row[0]
            if key != "0":
                parent = conn.execute(
                    "SELECT type, trashed_at FROM files WHERE id = ? AND user_id = ?", (key, user_id)
                ).fetchone()
                if parent is None or parent[0] != "folder" or parent[1] is not None:
                    key = "0"  # its folder is gone or trashed: to the root
            seq = append_seq(conn, user_id, key)
            conn.execute("UPDATE files SET trashed_at = NULL, trash_id = NULL WHERE trash_id = ? AND user_id = ?",
                         (file_id, user_id))
            restored = conn.execute(
                f"UPDATE files SET parent_id = ?, seq = ?, updated_at = ? WHERE id = ? RETURNING {FILE_COLUMNS}",
                (key, seq, now, file_id),
            ).fetchone()
            return file_record(restored)

        return await self._transaction(restore)

    async def trashed_files(self, user_id: str, limit: int, after: tuple[float, str] | None) -> list[FileRecord]:
        if not is_id(user_id):
            return []
        seek = ""
        values: tuple[object, ...] = (user_id.lower(),)
        if after is not None:
            seek, values = " AND (trashed_at, id) < (?, ?)", (*values, *after)
        rows = self._read(
            f"SELECT {FILE_COLUMNS} FROM files INDEXED BY trash_tops WHERE user_id = ? AND trash_id = id{seek}"
            " ORDER BY trashed_at DESC, id DESC LIMIT ?",
            (*values, limit),
        ).fetchall()
        return [file_record(row) for row in rows]

    async def purge_file(self, user_id: str, file_id: str) -> list[str]:
        if not (is_id(user_id) and is_id(file_id)):
            raise NotFound()
        user_id, file_id = user_id.lower(), file_id.lower()
        return await self._transaction(lambda conn: _purge(conn, user_id, file_id))

    async def purge_trash(self, user_id: str) -> list[str]:
        if not is_id(user_id):
            return []
        user_id = user_id.lower()

        def purge(conn: sqlite3.Connection) -> list[str]:
            tops = conn.execute("SELECT id FROM files WHERE user_id = ? AND trash_id = id", (user_id,)).fetchall()
            paths: list[str] = []
            for (top,) in tops:
                # A top below another top of the list went with it.
                if conn.execute("SELECT 1 FROM files WHERE id = ?", (top,)).fetchone() is not None:
                    paths += _purge(conn, user_id, top)
            return paths

        return await self._transaction(purge)

    async def trashed_before(self, cutoff: float, limit: int) -> list[FileRecord]:
        rows = self._read(
            f"SELECT {FILE_COLUMNS} FROM files INDEXED BY trash_tops_by_time WHERE trash_id = id"
            " AND trashed_at < ? ORDER BY trashed_at LIMIT ?",
            (cutoff, limit),
        ).fetchall()
        return [file_record(row) for row in rows]
