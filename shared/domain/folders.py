"""Where a new file goes: the root, or one of its owner's live folders.

An early answer for a client, on every surface that creates files (v1
POST /files, v2 POST /v2/files, tus creation); the storage checks the
parent again, atomically, when the file is stored.
"""

from __future__ import annotations

from shared.errors import Invalid
from shared.storage import NOT_A_FOLDER, PARENT_NOT_FOUND, ROOT, ParentId, Storage, is_id, is_root


async def parent_of(storage: Storage, user_id: str, value: object) -> ParentId:
    """ROOT when `value` is None or the root's id (0 or "0"), else the id of
    one of the user's live folders: Invalid("Parent not found") /
    Invalid("Parent is not a folder") otherwise."""
    if value is None or is_root(value):
        return ROOT
    parent = await storage.file_of_user(user_id, value) if isinstance(value, str) and is_id(value) else None
    if parent is None:
        raise Invalid(PARENT_NOT_FOUND)
    if parent.type != "folder":
        raise Invalid(NOT_A_FOLDER)
    return parent.id
