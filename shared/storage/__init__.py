"""Metadata storage: one interface (base.Storage), two backends chosen by URL."""

from __future__ import annotations

from .base import (
    FILE_TYPES,
    PAGE_SIZE,
    ROOT,
    FileRecord,
    NewFile,
    ParentId,
    Storage,
    User,
    is_id,
    is_root,
    new_id,
    new_object_id,
)

__all__ = [
    "FILE_TYPES", "PAGE_SIZE", "ROOT", "FileRecord", "NewFile", "ParentId", "Storage",
    "User", "is_id", "is_root", "new_id", "new_object_id", "open_storage",
]


async def open_storage(url: str) -> Storage:
    """Open the backend named by `url` (sqlite:///path or mongodb://...), ready to use."""
    if url.startswith("sqlite:///"):
        from .sqlite import SQLiteStorage

        return await SQLiteStorage.open(url)
    if url.startswith(("mongodb://", "mongodb+srv://")):
        from .mongo import MongoStorage

        return await MongoStorage.open(url)
    raise ValueError(f"unsupported database URL: {url!r}")
