"""Metadata storage: one interface (protocol.Storage), two backends chosen by URL."""

from __future__ import annotations

from .base import (
    DEFAULT_WRITE_TIMEOUT,
    FILE_TYPES,
    INTO_ITSELF,
    NOT_A_FOLDER,
    PAGE_SIZE,
    PARENT_NOT_FOUND,
    ROOT,
    FileRecord,
    NewContent,
    NewFile,
    Order,
    ParentId,
    Position,
    ShareLink,
    SortField,
    Upload,
    Usage,
    UsageDrift,
    User,
    email_key,
    is_id,
    is_root,
    name_key,
    new_id,
    new_object_id,
    position_of,
)
from .protocol import Storage

__all__ = [
    "DEFAULT_WRITE_TIMEOUT", "FILE_TYPES", "INTO_ITSELF", "NOT_A_FOLDER", "PAGE_SIZE", "PARENT_NOT_FOUND",
    "ROOT", "FileRecord", "NewContent", "NewFile", "Order", "ParentId", "Position", "ShareLink", "SortField",
    "Storage", "Upload", "Usage", "UsageDrift", "User", "email_key", "is_id", "is_root", "name_key", "new_id",
    "new_object_id", "open_storage", "position_of",
]


async def open_storage(url: str, *, write_timeout: float = DEFAULT_WRITE_TIMEOUT) -> Storage:
    """Open the backend named by `url` (sqlite:///path or mongodb://...), ready to use.

    `write_timeout` (storage.write_timeout) bounds how long a SQLite write may
    wait, queued or for the lock, before it raises StorageBusy.
    Raises StorageUnavailable when the database cannot be opened."""
    if url.startswith("sqlite:///"):
        from .sqlite import SQLiteStorage

        return await SQLiteStorage.open(url, write_timeout)
    if url.startswith(("mongodb://", "mongodb+srv://")):
        from .mongo import MongoStorage

        return await MongoStorage.open(url)
    raise ValueError(f"unsupported database URL: {url!r}")
