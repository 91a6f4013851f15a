"""PostgreSQL: files and folders, v1 reads and pages, and changes (v2 lists,
search and ancestors are pg_lists.py's).

v1 pages come from each file's dense position in its folder (`seq`), so page
n is an index seek to seq 20n instead of an OFFSET walking 20n entries.
Every change runs under the user's lock (pg_core.py), so a move's cycle
check, the positions and the byte counters agree whatever other node writes.
"""

from __future__ import annotations

import time

from ..errors import Invalid, NotFound
from .base import INTO_ITSELF, PAGE_SIZE, ROOT, FileRecord, NewContent, NewFile, ParentId, is_id, name_key, new_id
from .guard import domain_errors
from .pg_core import (
    FILE_COLUMNS,
    MAX_DEPTH,
    Connection,
    PGCore,
    add_used_bytes,
    append_seq,
    check_quota,
    domain_error,
    file_record,
    leave_order,
    live_folder_key,
    owned_ids,
    parent_key,
    stored_name,
)


async def insert_file(conn: Connection, record: FileRecord) -> None:
    """Store `record` at the end of its folder's v1 order and count its bytes
    (the parent already checked, under the user's lock)."""
    key = "0" if record.parent_id == ROOT else str(record.parent_id)
    await conn.execute(
        f"INSERT INTO files ({FILE_COLUMNS}, seq, name_key)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL, NULL, false, $13, $14)",
        record.id, record.user_id, stored_name(record.name), record.type, record.is_public, key,
        record.local_path, record.size, record.sha256, record.mime_type, record.created_at,
        record.updated_at, await append_seq(conn, record.user_id, key), stored_name(name_key(record.name)),
    )
    await add_used_bytes(conn, record.user_id, record.size or 0)


def new_record(new: NewFile, user_id: str, parent_id: ParentId, now: float) -> FileRecord:
    folder = new.type == "folder"
    return FileRecord(
        id=new_id(), user_id=user_id, name=new.name, type=new.type, is_public=new.is_public,
        parent_id=parent_id, local_path=new.local_path,
        size=(new.size or 0) if folder else new.size, sha256=None if folder else new.sha256,
        mime_type=None if folder else new.mime_type, created_at=now, updated_at=now,
    )


async def _live_row(conn: Connection, user_id: str, file_id: str) -> tuple[FileRecord, int | None]:
    """The user's live file and its v1 position, in the caller's transaction; else NotFound."""
    row = await conn.fetchrow(
        f"SELECT {FILE_COLUMNS}, seq FROM files WHERE id = $1 AND user_id = $2 AND trashed_at IS NULL",
        file_id, user_id)
    if row is None:
        raise NotFound()
    return file_record(row), row["seq"]


async def _moves_into_itself(conn: Connection, user_id: str, folder_id: str, target: str) -> bool:
    """Whether `target` is `folder_id` or below it: the target's chain of
    parents, read in one recursive query (each step a primary-key look-up)."""
    found = await conn.fetchval(
        """WITH RECURSIVE up(id, parent_id, depth) AS (
               SELECT id, parent_id, 0 FROM files WHERE id = $1 AND user_id = $2
               UNION ALL
               SELECT f.id, f.parent_id, up.depth + 1 FROM files f JOIN up ON f.id = up.parent_id
               WHERE f.user_id = $2 AND up.depth < $4
           ) SELECT EXISTS (SELECT 1 FROM up WHERE id = $3)""",
        target, user_id, folder_id, MAX_DEPTH)
    return bool(found)


@domain_errors(domain_error)
class FilesPart(PGCore):
    async def create_file(self, new: NewFile, quota: int | None = None) -> FileRecord:
        async def insert(conn: Connection) -> FileRecord:
            key = await live_folder_key(conn, new.user_id, new.parent_id)
            record = new_record(new, new.user_id, ROOT if key == "0" else key, time.time())
            await check_quota(conn, new.user_id, record.size or 0, quota)
            await insert_file(conn, record)
            return record

        return await self._transaction(insert, new.user_id)

    async def delete_file(self, user_id: str, file_id: str) -> None:
        if not (is_id(user_id) and is_id(file_id)):
            return
        user_id, file_id = user_id.lower(), file_id.lower()

        async def delete(conn: Connection) -> None:
            row = await conn.fetchrow(
                "DELETE FROM files WHERE id = $1 AND user_id = $2 RETURNING parent_id, seq, size", file_id, user_id)
            if row is not None:
                await leave_order(conn, user_id, row[0], row[1])
                await add_used_bytes(conn, user_id, -(row[2] or 0))

        await self._transaction(delete, user_id)

    async def file_of_user(self, user_id: str, file_id: str) -> FileRecord | None:
        record = await self._file_by_id(file_id)
        if record is None or record.user_id != user_id or record.trashed_at is not None:
            return None
        return record

    async def file_readable_by(self, user_id: str | None, file_id: str) -> FileRecord | None:
        record = await self._file_by_id(file_id)
        if record is None or record.trashed_at is not None:
            return None
        if not (record.is_public or (user_id is not None and record.user_id == user_id)):
            return None
        return record

    async def file_with_trashed(self, user_id: str, file_id: str) -> FileRecord | None:
        record = await self._file_by_id(file_id)
        return record if record is not None and record.user_id == user_id else None

    async def children(self, user_id: str, parent_id: ParentId, page: int) -> list[FileRecord]:
        key = parent_key(parent_id)
        if not is_id(user_id) or key is None:
            return []
        # Rows below a trashed folder are trashed with it: the live test hides them.
        rows = await self._fetch(
            f"SELECT {FILE_COLUMNS} FROM files WHERE user_id = $1 AND parent_id = $2"
            " AND seq >= $3 AND trashed_at IS NULL ORDER BY seq LIMIT $4",
            user_id.lower(), key, page * PAGE_SIZE, PAGE_SIZE)
        return [file_record(row) for row in rows]

    async def set_public(self, user_id: str, file_id: str, is_public: bool) -> FileRecord | None:
        if not (is_id(user_id) and is_id(file_id)):
            return None
        row = await self._fetchrow(
            f"UPDATE files SET is_public = $1 WHERE id = $2 AND user_id = $3 AND trashed_at IS NULL"
            f" RETURNING {FILE_COLUMNS}", is_public, file_id.lower(), user_id.lower())
        return None if row is None else file_record(row)

    async def count_files(self) -> int:
        return await self._fetchval("SELECT count(*) FROM files")

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
        user_id, file_id = owned_ids(user_id, file_id)

        async def update(conn: Connection) -> FileRecord:
            record, seq = await _live_row(conn, user_id, file_id)
            sets: list[str] = ["updated_at = $2"]
            values: list[object] = [record.id, now]
            if name is not None:
                sets += [f"name = ${len(values) + 1}", f"name_key = ${len(values) + 2}"]
                values += [stored_name(name), stored_name(name_key(name))]
            if is_public is not None:
                sets.append(f"is_public = ${len(values) + 1}")
                values.append(is_public)
            if parent_id is not None:
                target = await live_folder_key(conn, user_id, parent_id)
                if record.type == "folder" and target != "0" and await _moves_into_itself(
                        conn, user_id, record.id, target):
                    raise Invalid(INTO_ITSELF)
                old = "0" if record.parent_id == ROOT else str(record.parent_id)
                if target != old:
                    await conn.execute("UPDATE files SET seq = NULL WHERE id = $1", record.id)
                    await leave_order(conn, user_id, old, seq)
                    sets += [f"parent_id = ${len(values) + 1}", f"seq = ${len(values) + 2}"]
                    values += [target, await append_seq(conn, user_id, target)]
            row = await conn.fetchrow(
                f"UPDATE files SET {', '.join(sets)} WHERE id = $1 RETURNING {FILE_COLUMNS}", *values)
            return file_record(row)

        return await self._transaction(update, user_id)

    async def replace_content(
        self, user_id: str, file_id: str, content: NewContent, quota: int | None, now: float
    ) -> tuple[FileRecord, str | None]:
        user_id, file_id = owned_ids(user_id, file_id)

        async def replace(conn: Connection) -> tuple[FileRecord, str | None]:
            record, _ = await _live_row(conn, user_id, file_id)
            if record.type == "folder":
                raise Invalid("A folder has no content")
            more = content.size - (record.size or 0)
            await check_quota(conn, user_id, more, quota)
            row = await conn.fetchrow(
                "UPDATE files SET local_path = $1, size = $2, sha256 = $3, mime_type = $4, type = $5,"
                f" has_thumbnails = false, updated_at = $6 WHERE id = $7 RETURNING {FILE_COLUMNS}",
                content.local_path, content.size, content.sha256, content.mime_type, content.type, now, record.id)
            await add_used_bytes(conn, user_id, more)
            return file_record(row), record.local_path

        return await self._transaction(replace, user_id)

    async def set_thumbnails(self, file_id: str, local_path: str) -> None:
        if is_id(file_id):
            await self._fetch("UPDATE files SET has_thumbnails = true WHERE id = $1 AND local_path = $2",
                              file_id.lower(), local_path)
