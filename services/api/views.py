"""Domain objects in the contract's wire shape (the wire names live only here)."""

from __future__ import annotations

from typing import Any

from shared.storage import FileRecord, User


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
