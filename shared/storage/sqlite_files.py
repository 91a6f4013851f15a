"""SQLite: files and folders, v1 reads and pages, and changes (v2 lists,
search and ancestors are sqlite_lists.py's).

v1 pages come from each file's dense position in its folder (`seq`: 0, 1,
2... in the order of arrival), so page n is an index seek to seq 20n
instead of an OFFSET that walks 20n index entries.
"""

from __future__ import annotations

import sqlite3
import time

from ..errors import Invalid, NotFound
from .base import (
    INTO_ITSELF,
    PAGE_SIZE,
    ROOT,
    FileRecord,
    NewContent,
    NewFile,
    ParentId,
    is_id,
    name_key,
    new_id,
)
from .guard import domain_errors
from .sqlite_core import (
    FILE_COLUMNS,
    MAX_DEPTH,
    SQLiteCore,
    add_used_bytes,
    append_seq,
    check_quota,
    domain_error,
    file_record,
    leave_order,
    live_folder_key,
    parent_key,
)


def insert_file(conn: sqlite3.Connection, record: FileRecord) -> None:
    """Store `record` at the end of its folder's v1 order and count its bytes
    (the parent already checked, in the caller's transaction)."""
    key = "0" if record.parent_id == ROOT else str(record.parent_id)
    conn.execute(
        f"INSERT INTO files ({FILE_COLUMNS}, seq, name_key)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, 0, ?, ?)",
        (record.id, record.user_id, record.name, record.type, int(record.is_public), key,
         record.local_path, record.size, record.sha256, record.mime_type, record.created_at,
         record.updated_at, append_seq(conn, record.user_id, key), name_key(record.name)),
    )
    add_used_bytes(conn, record.user_id, record.size or 0)


def new_record(new: NewFile, user_id: str, parent_id: ParentId, now: float) -> FileRecord:
    folder = new.type == "folder"
    return FileRecord(
        id=new_id(), user_id=user_id, name=new.name, type=new.type, is_public=new.is_public,
        parent_id=parent_id, local_path=new.local_path,
        size=(new.size or 0) if folder else new.size, sha256=None if folder else new.sha256,
        mime_type=None if folder else new.mime_type, created_at=now, updated_at=now,
    )


def _live_row(conn: sqlite3.Connection, user_id: str, file_id: str) -> tuple[FileRecord, int | None]:
    """The user's live file and its v1 position, in the caller's transaction; else NotFound."""
    row = None
    if is_id(user_id) and is_id(file_id):
        row = conn.execute(
            f"SELECT {FILE_COLUMNS}, seq FROM files WHERE id = ? AND user_id = ? AND trashed_at IS NULL",
            (file_id.lower(), user_id.lower()),
        ).fetchone()
    if row is None:
        raise NotFound()
    return file_record(row[:-1]), row[-1]


def _moves_into_itself(conn: sqlite3.Connection, user_id: str, folder_id: str, target: str) -> bool:
    """Whether `target` is `folder_id` or below it, walking up from the target
    one primary-key look-up at a time (a recursive CTE may be planned as a
    scan of every file once statistics exist)."""
    current, seen = target, set[str]()
    while current != "0" and current not in seen and len(seen) < MAX_DEPTH:
        if current == folder_id:
            return True
        seen.add(current)
        row = conn.execute("SELECT parent_id FROM files WHERE id = ? AND user_id = ?", (current, user_id)).fetchone()
        if row is None:
            return False
        current = row[0]
    return False


@domain_errors(domain_error)
class FilesPart(SQLiteCore):
    async def create_file(self, new: NewFile, quota: int | None = None) -> FileRecord:
        def insert(conn: sqlite3.Connection) -> FileRecord:
            key = live_folder_key(conn, new.user_id, new.parent_id)
            record = new_record(new, new.user_id, ROOT if key == "0" else key, time.time())
            check_quota(conn, new.user_id, record.size or 0, quota)
            insert_file(conn, record)
            return record

        return await self._transaction(insert)

    async def delete_file(self, user_id: str, file_id: str) -> None:
        if not (is_id(user_id) and is_id(file_id)):
            return
        user_id, file_id = user_id.lower(), file_id.lower()

        def delete(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "DELETE FROM files WHERE id = ? AND user_id = ? RETURNING parent_id, seq, size",
                (file_id, user_id),
            ).fetchone()
            if row is not None:
                leave_order(conn, user_id, row[0], row[1])
                add_used_bytes(conn, user_id, -(row[2] or 0))

        await self._transaction(delete)

    async def file_of_user(self, user_id: str, file_id: str) -> FileRecord | None:
        record = self._file_by_id(file_id)
        if record is None or record.user_id != user_id or record.trashed_at is not None:
            return None
        return record

    async def file_readable_by(self, user_id: str | None, file_id: str) -> FileRecord | None:
        record = self._file_by_id(file_id)
        if record is None or record.trashed_at is not None:
            return None
        if not (record.is_public or (user_id is not None and record.user_id == user_id)):
            return None
        return record

    async def file_with_trashed(self, user_id: str, file_id: str) -> FileRecord | None:
        record = self._file_by_id(file_id)
        return record if record is not None and record.user_id == user_id else None

    async def children(self, user_id: str, parent_id: ParentId, page: int) -> list[FileRecord]:
        key = parent_key(parent_id)
        if not is_id(user_id) or key is None:
            return []
        if key != "0":
            # A trashed folder's rows keep their positions (for a restore): it lists nothing.
            parent = self._file_by_id(key)
            if parent is not None and parent.trashed_at is not None:
                return []
        # Rows that hold a position in a live folder are live; the test only guards that.
        rows = self._read(
            f"SELECT {FILE_COLUMNS} FROM files INDEXED BY files_by_parent WHERE user_id = ? AND parent_id = ?"
            " AND seq >= ? AND trashed_at IS NULL ORDER BY seq LIMIT ?",
            (user_id.lower(), key, page * PAGE_SIZE, PAGE_SIZE),
        ).fetchall()
        return [file_record(row) for row in rows]

    async def set_public(self, user_id: str, file_id: str, is_public: bool) -> FileRecord | None:
        if not (is_id(user_id) and is_id(file_id)):
            return None
        rows = await self._write(
            f"UPDATE files SET is_public = ? WHERE id = ? AND user_id = ? AND trashed_at IS NULL"
            f" RETURNING {FILE_COLUMNS}",
            (int(is_public), file_id.lower(), user_id.lower()),
        )
        return file_record(rows[0]) if rows else None

    async def count_files(self) -> int:
        return self._read("SELECT count(*) FROM files").fetchone()[0]

    async def update_file(
        self,
        user_id: str,
        file_id: str,
        *,
        name: str | None = None,
        parent_id: ParentId | None = None,
        is_public: bool | None = None,
        now: float,
    ) -> FileRecord:
        def update(conn: sqlite3.Connection) -> FileRecord:
            record, seq = _live_row(conn, user_id, file_id)
            sets: list[str] = ["updated_at = ?"]
            values: list[object] = [now]
            if name is not None:
                sets += ["name = ?", "name_key = ?"]
                values += [name, name_key(name)]
            if is_public is not None:
                sets.append("is_public = ?")
                values.append(int(is_public))
            if parent_id is not None:
                target = live_folder_key(conn, record.user_id, parent_id)
                if record.type == "folder" and target != "0" and _moves_into_itself(
                        conn, record.user_id, record.id, target):
                    raise Invalid(INTO_ITSELF)
                old = "0" if record.parent_id == ROOT else str(record.parent_id)
                if target != old:
                    conn.execute("UPDATE files SET seq = NULL WHERE id = ?", (record.id,))
                    leave_order(conn, record.user_id, old, seq)
                    sets += ["parent_id = ?", "seq = ?"]
                    values += [target, append_seq(conn, record.user_id, target)]
            row = conn.execute(
                f"UPDATE files SET {', '.join(sets)} WHERE id = ? RETURNING {FILE_COLUMNS}",
                (*values, record.id),
            ).fetchone()
            return file_record(row)

        return await self._transaction(update)

    async def replace_content(
        self, user_id: str, file_id: str, content: NewContent, quota: int | None, now: float
    ) -> tuple[FileRecord, str | None]:
        def replace(conn: sqlite3.Connection) -> tuple[FileRecord, str | None]:
            record, _ = _live_row(conn, user_id, file_id)
            if record.type == "folder":
                raise Invalid("A folder has no content")
            more = content.size - (record.size or 0)
            check_quota(conn, record.user_id, more, quota)
            row = conn.execute(
                "UPDATE files SET local_path = ?, size = ?, sha256 = ?, mime_type = ?, type = ?,"
                f" has_thumbnails = 0, updated_at = ? WHERE id = ? RETURNING {FILE_COLUMNS}",
                (content.local_path, content.size, content.sha256, content.mime_type, content.type,
                 now, record.id),
            ).fetchone()
            add_used_bytes(conn, record.user_id, more)
            return file_record(row), record.local_path

        return await self._transaction(replace)

    async def set_thumbnails(self, file_id: str, local_path: str) -> None:
        if is_id(file_id):
            await self._write("UPDATE files SET has_thumbnails = 1 WHERE id = ? AND local_path = ?",
                              (file_id.lower(), local_path))

