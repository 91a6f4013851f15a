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

# The trees below an item are walked a folder at a time, each folder's
# children one index seek: a recursive CTE joined to files lets the planner
# build a Bloom filter over every row of the user (600,000 VM steps to trash
# one file beside 100,000 others), and with statistics it reads them all.


def _trash_below(conn: sqlite3.Connection, user_id: str, folder_id: str, now: float) -> None:
    """Mark every live row below `folder_id` as trashed with it. Below a
    trashed row everything is trashed already, so only live folders are walked."""
    frontier, seen = [folder_id], {folder_id}
    while frontier:
        parent = frontier.pop()
        folders = conn.execute(
            "SELECT id FROM files INDEXED BY live_by_name WHERE user_id = ? AND parent_id = ? AND is_file = 0"
            " AND trashed_at IS NULL", (user_id, parent)
        ).fetchall()
        conn.execute(
            "UPDATE files INDEXED BY live_by_name SET trashed_at = ?, trash_id = ?"
            " WHERE user_id = ? AND parent_id = ? AND trashed_at IS NULL", (now, folder_id, user_id, parent)
        )
        frontier += [found for (found,) in folders if found not in seen]  # seen: a cycle left by other tools
        seen.update(found for (found,) in folders)


def _purge(conn: sqlite3.Connection, user_id: str, file_id: str) -> list[str]:
    """Delete the user's item `file_id` and everything below it, live or
    trashed, with their links and bytes, in the caller's transaction; the
    blob paths. NotFound when it is not the user's."""
    top = conn.execute(
        "DELETE FROM files WHERE id = ? AND user_id = ? RETURNING id, type, local_path, size, parent_id, seq",
        (file_id, user_id),
    ).fetchone()
    if top is None:
        raise NotFound()
    rows = [top[:4]]
    frontier, seen = ([file_id] if top[1] == "folder" else []), {file_id}
    while frontier:
        below = conn.execute(
            "DELETE FROM files INDEXED BY files_by_parent WHERE user_id = ? AND parent_id = ?"
            " RETURNING id, type, local_path, size", (user_id, frontier.pop())
        ).fetchall()
        rows += below
        frontier += [row[0] for row in below if row[1] == "folder" and row[0] not in seen]
        seen.update(row[0] for row in below)
    conn.executemany("DELETE FROM share_links WHERE user_id = ? AND file_id = ?",
                     [(user_id, row[0]) for row in rows])
    leave_order(conn, user_id, top[4], top[5])
    add_used_bytes(conn, user_id, -sum(row[3] or 0 for row in rows))
    return [row[2] for row in rows if row[2] is not None]


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
            conn.execute("UPDATE files SET trashed_at = ?, trash_id = id, seq = NULL WHERE id = ?", (now, file_id))
            if record.type == "folder":
                _trash_below(conn, user_id, file_id, now)
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
            conn.execute("UPDATE files INDEXED BY files_by_trash SET trashed_at = NULL, trash_id = NULL"
                         " WHERE trash_id = ? AND user_id = ?", (file_id, user_id))
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
