"""Domain objects in the contract's wire shape (the wire names live only here)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from shared.storage import FileRecord, User
from shared.tokens import Session


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response encoded with orjson (a third of json.dumps's cost on the hot path)."""
    return web.Response(body=orjson.dumps(data), status=status, headers=headers,
                        content_type="application/json")


def file_view(record: FileRecord) -> dict[str, Any]:
    """Exactly the contract's fields: never `_id`, `localPath` or anything else."""
    return {
        "id": record.id,
        "userId": record.user_id,
        "name": record.name,
        "type": record.type,
        "isPublic": record.is_public,
        "parentId": record.parent_id,
    }


def user_view(user: User) -> dict[str, str]:
    return {"id": user.id, "email": user.email}


# ---- v2 ----------------------------------------------------------------------


def rfc3339(epoch: float) -> str:
    """Every v2 time: RFC 3339 in UTC to the millisecond, e.g. `2024-05-01T12:00:00.123Z`."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def account_view(user: User, quota_bytes: int | None, used_bytes: int) -> dict[str, Any]:
    """The v2 user: `quotaBytes` is the quota that applies (None: unlimited)."""
    return {
        "id": user.id,
        "email": user.email,
        "createdAt": rfc3339(user.created_at),
        "quotaBytes": quota_bytes,
        "usedBytes": used_bytes,
    }


def session_view(session: Session) -> dict[str, str]:
    return {"token": session.token, "expiresAt": rfc3339(session.expires_at)}
