"""PostgreSQL: share links. Tokens are stored only as their hash (unique); a
revoked link is kept so /s/ can say it is gone. Each change is one statement,
atomic on its own (count_download's limit included)."""

from __future__ import annotations

from typing import Any

from .base import ShareLink, is_id, is_storable_text
from .guard import domain_errors
from .pg_core import PGCore, domain_error

_LINK_COLUMNS = ("id, user_id, file_id, token_hash, created_at, expires_at, password_hash, max_downloads,"
                 " downloads, revoked_at")


def _link(row: Any) -> ShareLink | None:
    return None if row is None else ShareLink(*row)


@domain_errors(domain_error)
class LinksPart(PGCore):
    async def create_link(self, link: ShareLink) -> ShareLink:
        await self._fetch(
            f"INSERT INTO share_links ({_LINK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            link.id, link.user_id, link.file_id, link.token_hash, link.created_at, link.expires_at,
            link.password_hash, link.max_downloads, link.downloads, link.revoked_at)
        return link

    async def links_of_file(self, user_id: str, file_id: str) -> list[ShareLink]:
        if not (is_id(user_id) and is_id(file_id)):
            return []
        rows = await self._fetch(
            f"SELECT {_LINK_COLUMNS} FROM share_links WHERE user_id = $1 AND file_id = $2"
            " ORDER BY created_at DESC, id DESC", user_id.lower(), file_id.lower())
        return [ShareLink(*row) for row in rows]

    async def link_of_user(self, user_id: str, link_id: str) -> ShareLink | None:
        if not (is_id(user_id) and is_id(link_id)):
            return None
        return _link(await self._fetchrow(f"SELECT {_LINK_COLUMNS} FROM share_links WHERE id = $1 AND user_id = $2",
                                          link_id.lower(), user_id.lower()))

    async def link_by_token_hash(self, token_hash: str) -> ShareLink | None:
        if not is_storable_text(token_hash) or "\x00" in token_hash:
            return None
        return _link(await self._fetchrow(f"SELECT {_LINK_COLUMNS} FROM share_links WHERE token_hash = $1",
                                          token_hash))

    async def revoke_link(self, user_id: str, link_id: str, now: float) -> bool:
        if not (is_id(user_id) and is_id(link_id)):
            return False
        found = await self._fetchval(
            "UPDATE share_links SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2 AND user_id = $3"
            " RETURNING id", now, link_id.lower(), user_id.lower())
        return found is not None

    async def count_download(self, link_id: str) -> bool:
        if not is_id(link_id):
            return False
        found = await self._fetchval(
            "UPDATE share_links SET downloads = downloads + 1 WHERE id = $1"
            " AND (max_downloads IS NULL OR downloads < max_downloads) RETURNING id", link_id.lower())
        return found is not None
