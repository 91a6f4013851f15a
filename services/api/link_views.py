"""Share links and the items a folder link shows, in their wire shapes."""

from __future__ import annotations

from typing import Any

from shared.domain.links import is_dead
from shared.storage import ShareLink

from .views import rfc3339


def share_url(token: str, file_id: str | None = None) -> str:
    return f"/s/{token}" if file_id is None else f"/s/{token}/{file_id}"


def link_view(link: ShareLink, now: float, token: str | None = None) -> dict[str, Any]:
    """The owner's view of a link (of a live file). `url` only when the token
    is known (at creation: it is never stored); `active`: it opens right now."""
    view: dict[str, Any] = {
        "id": link.id,
        "fileId": link.file_id,
        "expiresAt": rfc3339(link.expires_at),
        "maxDownloads": link.max_downloads,
        "downloads": link.downloads,
        "hasPassword": link.password_hash is not None,
        "createdAt": rfc3339(link.created_at),
        "revokedAt": rfc3339(link.revoked_at),
        "active": not is_dead(link, now),
    }
    if token is not None:
        view = {"id": link.id, "url": share_url(token), **{k: v for k, v in view.items() if k != "id"}}
    return view


def shared_item_view(document: dict[str, Any], token: str) -> dict[str, Any]:
    """An item as a link shows it, from its v2 document: nothing of its owner,
    its place outside the link, or its hash."""
    return {**{field: document[field] for field in _SHARED_FIELDS}, "url": share_url(token, document["id"])}


_SHARED_FIELDS = ("id", "name", "type", "size", "mimeType", "updatedAt", "hasThumbnails")
