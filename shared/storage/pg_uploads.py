"""PostgreSQL: tus uploads. An unfinished upload reserves its length in the
user's quota (check_quota sums them, under the user's lock, so uploads racing
from several nodes cannot pass it together); finishing creates the file and
marks the upload with its id in one transaction, so it happens once."""

from __future__ import annotations

from typing import Any

from ..errors import Invalid, NotFound
from .base import ROOT, FileRecord, NewFile, Upload, is_id
from .guard import domain_errors
from .pg_core import (
    FILE_COLUMNS,
    Connection,
    PGCore,
    check_quota,
    domain_error,
    file_record,
    live_folder_key,
    parent_key,
    shown_name,
    stored_name,
)
from .pg_files import insert_file, new_record

_UPLOAD_COLUMNS = ("id, user_id, length, upload_offset, name, parent_id, is_public, part_path, created_at,"
                   " expires_at, file_id")


def _upload(row: Any) -> Upload | None:
    if row is None:
        return None
    upload_id, user_id, length, offset, name, parent_id, is_public, part_path, created_at, expires_at, file_id = row
    return Upload(upload_id, user_id, length, offset, shown_name(name), ROOT if parent_id == "0" else parent_id,
                  is_public, part_path, created_at, expires_at, file_id)


@domain_errors(domain_error)
class UploadsPart(PGCore):
    async def create_upload(self, upload: Upload, quota: int | None) -> Upload:
        parent = parent_key(upload.parent_id) or "0"  # checked again when it finishes

        async def insert(conn: Connection) -> None:
            await check_quota(conn, upload.user_id, upload.length, quota)
            await conn.execute(
                f"INSERT INTO uploads ({_UPLOAD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                upload.id, upload.user_id, upload.length, upload.offset, stored_name(upload.name), parent,
                upload.is_public, upload.part_path, upload.created_at, upload.expires_at, upload.file_id)

        await self._transaction(insert, upload.user_id)
        return upload

    async def upload_of_user(self, user_id: str, upload_id: str) -> Upload | None:
        if not (is_id(user_id) and is_id(upload_id)):
            return None
        return _upload(await self._fetchrow(f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE id = $1 AND user_id = $2",
                                            upload_id.lower(), user_id.lower()))

    async def set_upload_offset(self, upload_id: str, old_offset: int, new_offset: int) -> bool:
        if not is_id(upload_id):
            return False
        found = await self._fetchval(
            "UPDATE uploads SET upload_offset = $1 WHERE id = $2 AND upload_offset = $3 RETURNING id",
            new_offset, upload_id.lower(), old_offset)
        return found is not None

    async def finish_upload(self, upload_id: str, new: NewFile, now: float) -> FileRecord:
        if not is_id(upload_id):
            raise NotFound()
        upload_id = upload_id.lower()
        user_id = await self._fetchval("SELECT user_id FROM uploads WHERE id = $1", upload_id)
        if user_id is None:
            raise NotFound()

        async def finish(conn: Connection) -> FileRecord:
            # Under the user's lock: a second call waits, then finds file_id set.
            file_id = await conn.fetchrow("SELECT file_id FROM uploads WHERE id = $1 FOR UPDATE", upload_id)
            if file_id is None:
                raise NotFound()  # terminated meanwhile
            if file_id[0] is not None:  # finished already: the same answer
                done = await conn.fetchrow(f"SELECT {FILE_COLUMNS} FROM files WHERE id = $1", file_id[0])
                if done is None:
                    raise NotFound()  # finished, then purged
                return file_record(done)
            try:
                key = await live_folder_key(conn, user_id, new.parent_id)
            except Invalid:
                key = "0"  # its folder went away meanwhile: to the root
            record = new_record(new, user_id, ROOT if key == "0" else key, now)
            await insert_file(conn, record)  # the reservation already passed the quota
            await conn.execute("UPDATE uploads SET file_id = $1 WHERE id = $2", record.id, upload_id)
            return record

        return await self._transaction(finish, user_id)

    async def delete_upload(self, user_id: str, upload_id: str) -> Upload | None:
        if not (is_id(user_id) and is_id(upload_id)):
            return None
        return _upload(await self._fetchrow(
            f"DELETE FROM uploads WHERE id = $1 AND user_id = $2 RETURNING {_UPLOAD_COLUMNS}",
            upload_id.lower(), user_id.lower()))

    async def expired_uploads(self, now: float, limit: int) -> list[Upload]:
        rows = await self._fetch(
            f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE expires_at < $1 ORDER BY expires_at LIMIT $2", now, limit)
        return [u for u in map(_upload, rows) if u is not None]
