"""Metadata storage: one interface (protocol.Storage), three backends chosen by URL."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import (
    DEFAULT_WRITE_TIMEOUT,
    FILE_TYPES,
    INTO_ITSELF,
    NOT_A_FOLDER,
    PAGE_SIZE,
    PARENT_NOT_FOUND,
    POOL_SIZE,
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

if TYPE_CHECKING:
    from shared.config import StorageSettings

__all__ = [
    "DEFAULT_WRITE_TIMEOUT", "FILE_TYPES", "INTO_ITSELF", "NOT_A_FOLDER", "PAGE_SIZE", "PARENT_NOT_FOUND",
    "ROOT", "FileRecord", "NewContent", "NewFile", "Order", "ParentId", "Position", "ShareLink", "SortField",
    "Storage", "Upload", "Usage", "UsageDrift", "User", "email_key", "is_id", "is_root", "name_key", "new_id",
    "new_object_id", "open_configured_storage", "open_storage", "position_of",
]


async def open_storage(url: str, *, write_timeout: float = DEFAULT_WRITE_TIMEOUT, migrate: str = "auto",
                       pool_size: int = POOL_SIZE) -> Storage:
    """Open the backend named by `url` (sqlite:///path, postgresql://... or
    mongodb://...), ready to use.

    `write_timeout` (storage.write_timeout) bounds how long a write may
    wait, queued, for a connection or for a lock, before it raises StorageBusy.
    `migrate` (storage.migrate): "auto" applies missing schema migrations;
    "manual" refuses an old schema with StorageUnavailable naming the command
    to run (MongoDB has no schema: its indexes are always created).
    `pool_size` (storage.pool_size): PostgreSQL connections this process may hold.
    Raises StorageUnavailable when the database cannot be opened."""
    if url.startswith("sqlite:///"):
        from .sqlite import SQLiteStorage

        return await SQLiteStorage.open(url, write_timeout, migrate)
    if url.startswith(("postgresql://", "postgres://")):
        from .pg import PostgresStorage

        return await PostgresStorage.open(url, write_timeout, migrate, pool_size)
    if url.startswith(("mongodb://", "mongodb+srv://")):
        from .mongo import MongoStorage

        return await MongoStorage.open(url)
    raise ValueError(f"unsupported database URL: {url!r}")


async def open_configured_storage(settings: StorageSettings) -> Storage:
    """The backend of a service process: `open_storage` with every storage setting."""
    return await open_storage(settings.db_url, write_timeout=settings.write_timeout, migrate=settings.migrate,
                              pool_size=settings.pool_size)
