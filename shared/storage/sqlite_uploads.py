"""SQLite: tus uploads. An unfinished upload reserves its length in the
user's quota (check_quota sums them); finishing creates the file and marks
the upload with its id in one transaction, so it happens once."""

from __future__ import annotations

import sqlite3

from ..errors import Invalid, NotFound
from .base import ROOT, FileRecord, NewFile, Upload, is_id
from .guard import domain_errors
from .sqlite_core import FILE_COLUMNS, SQLiteCore, check_quota, domain_error, file_record, live_folder_key, parent_key
from .sqlite_files import insert_file, new_record

_UPLOAD_COLUMNS = ("id, user_id, length, upload_offset, name, parent_id, is_public, part_path, created_at,"
                   " expires_at, file_id")


def _upload(row: tuple | None) -> Upload | None:
    if row is None:
        return None
    upload_id, user_id, length, offset, name, parent_id, is_public, part_path, created_at, expires_at, file_id = row
    return Upload(upload_id, user_id, length, offset, name, ROOT if parent_id == "0" else parent_id,
                  bool(is_public), part_path, created_at, expires_at, file_id)


@domain_errors(domain_error)
class UploadsPart(SQLiteCore):
    async def create_upload(self, upload: Upload, quota: int | None) -> Upload:
        parent = parent_key(upload.parent_id) or "0"  # checked again when it finishes

        def insert(conn: sqlite3.Connection) -> None:
            check_quota(conn, upload.user_id, upload.length, quota)
            conn.execute(
                f"INSERT INTO uploads ({_UPLOAD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (upload.id, upload.user_id, upload.length, upload.offset, upload.name, parent,
                 int(upload.is_public), upload.part_path, upload.created_at, upload.expires_at, upload.file_id),
            )

        await self._transaction(insert)
        return upload

    async def upload_of_user(self, user_id: str, upload_id: str) -> Upload | None:
        if not (is_id(user_id) and is_id(upload_id)):
            return None
        return _upload(self._read(f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE id = ? AND user_id = ?",
                                  (upload_id.lower(), user_id.lower())).fetchone())

    async def set_upload_offset(self, upload_id: str, old_offset: int, new_offset: int) -> bool:
        if not is_id(upload_id):
            return False
        rows = await self._write(
            "UPDATE uploads SET upload_offset = ? WHERE id = ? AND upload_offset = ? RETURNING id",
            (new_offset, upload_id.lower(), old_offset),
        )
        return bool(rows)

    async def finish_upload(self, upload_id: str, new: NewFile, now: float) -> FileRecord:
        if not is_id(upload_id):
            raise NotFound()
        upload_id = upload_id.lower()

        def finish(conn: sqlite3.Connection) -> FileRecord:
            row = conn.execute("SELECT user_id, file_id FROM uploads WHERE id = ?", (upload_id,)).fetchone()
            if row is None:
                raise NotFound()
            user_id, file_id = row
            if file_id is not None:  # finished already: the same answer
                done = conn.execute(f"SELECT {FILE_COLUMNS} FROM files WHERE id = ?", (file_id,)).fetchone()
                if done is None:
                    raise NotFound()  # finished, then purged
                return file_record(done)
            try:
                key = live_folder_key(conn, user_id, new.parent_id)
            except Invalid:
                key = "0"  # its folder went away meanwhile: to the root
            record = new_record(new, user_id, ROOT if key == "0" else key, now)
            insert_file(conn, record)  # the reservation already passed the quota
            conn.execute("UPDATE uploads SET file_id = ? WHERE id = ?", (record.id, upload_id))
            return record

        return await self._transaction(finish)

    async def delete_upload(self, user_id: str, upload_id: str) -> Upload | None:
        if not (is_id(user_id) and is_id(upload_id)):
            return None
        rows = await self._write(f"DELETE FROM uploads WHERE id = ? AND user_id = ? RETURNING {_UPLOAD_COLUMNS}",
                                 (upload_id.lower(), user_id.lower()))
        return _upload(rows[0]) if rows else None

    async def expired_uploads(self, now: float, limit: int) -> list[Upload]:
        rows = self._read(
            f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE expires_at < ? ORDER BY expires_at LIMIT ?", (now, limit)
        ).fetchall()
        return [u for u in map(_upload, rows) if u is not None]
