"""SQLite: share links. Tokens are stored only as their hash (unique); a
revoked link is kept so /s/ can say it is gone."""

from __future__ import annotations

from .base import ShareLink, is_id, is_storable_text
from .guard import domain_errors
from .sqlite_core import SQLiteCore, domain_error

_LINK_COLUMNS = ("id, user_id, file_id, token_hash, created_at, expires_at, password_hash, max_downloads,"
                 " downloads, revoked_at")


def _link(row: tuple | None) -> ShareLink | None:
    return None if row is None else ShareLink(*row)


@domain_errors(domain_error)
class LinksPart(SQLiteCore):
    async def create_link(self, link: ShareLink) -> ShareLink:
        await self._write(
            f"INSERT INTO share_links ({_LINK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (link.id, link.user_id, link.file_id, link.token_hash, link.created_at, link.expires_at,
             link.password_hash, link.max_downloads, link.downloads, link.revoked_at),
        )
        return link

    async def links_of_file(self, user_id: str, file_id: str) -> list[ShareLink]:
        if not (is_id(user_id) and is_id(file_id)):
            return []
        rows = self._read(
            f"SELECT {_LINK_COLUMNS} FROM share_links WHERE user_id = ? AND file_id = ?"
            " ORDER BY created_at DESC, id DESC",
            (user_id.lower(), file_id.lower()),
        ).fetchall()
        return [ShareLink(*row) for row in rows]

    async def link_of_user(self, user_id: str, link_id: str) -> ShareLink | None:
        if not (is_id(user_id) and is_id(link_id)):
            return None
        return _link(self._read(f"SELECT {_LINK_COLUMNS} FROM share_links WHERE id = ? AND user_id = ?",
                                (link_id.lower(), user_id.lower())).fetchone())

    async def link_by_token_hash(self, token_hash: str) -> ShareLink | None:
        if not is_storable_text(token_hash):
            return None
        return _link(self._read(f"SELECT {_LINK_COLUMNS} FROM share_links WHERE token_hash = ?",
                                (token_hash,)).fetchone())

    async def revoke_link(self, user_id: str, link_id: str, now: float) -> bool:
        if not (is_id(user_id) and is_id(link_id)):
            return False
        rows = await self._write(
            "UPDATE share_links SET revoked_at = coalesce(revoked_at, ?) WHERE id = ? AND user_id = ? RETURNING id",
            (now, link_id.lower(), user_id.lower()),
        )
        return bool(rows)

    async def count_download(self, link_id: str) -> bool:
        if not is_id(link_id):
            return False
        rows = await self._write(
            "UPDATE share_links SET downloads = downloads + 1 WHERE id = ?"
            " AND (max_downloads IS NULL OR downloads < max_downloads) RETURNING id",
            (link_id.lower(),),
        )
        return bool(rows)
