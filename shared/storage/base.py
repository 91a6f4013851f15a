"""The storage interface: users and file metadata, whatever the backend.

Backends speak these domain objects and raise domain errors only. Every query
a user can trigger takes the owner's id, so no code path above this layer can
reach another user's file by forgetting a check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Protocol

from bson import ObjectId

FileType = Literal["folder", "file", "image"]
FILE_TYPES: tuple[str, ...] = ("folder", "file", "image")

# The root folder. Stored and returned as the number 0; a document written by
# other tools may hold the string "0", which is the root too and is returned as stored.
ROOT: int = 0
ParentId = int | str

PAGE_SIZE = 20

_OBJECT_ID = re.compile(r"[0-9a-fA-F]{24}")


def new_id() -> str:
    """A fresh id: the 24-hex text of a MongoDB ObjectId, for every backend."""
    return str(ObjectId())


def is_id(value: object) -> bool:
    """Whether `value` is a well-formed id (24 lowercase or uppercase hex digits)."""
    return isinstance(value, str) and len(value) == 24 and _OBJECT_ID.fullmatch(value) is not None


def is_root(parent_id: object) -> bool:
    return (parent_id == 0 and not isinstance(parent_id, bool)) or parent_id == "0"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    password_hash: str


@dataclass(frozen=True, slots=True)
class FileRecord:
    id: str
    user_id: str
    name: str
    type: str
    is_public: bool
    parent_id: ParentId  # ROOT (0), "0" when stored so by other tools, or the parent's id
    local_path: str | None  # None for folders


@dataclass(frozen=True, slots=True)
class NewFile:
    """What POST /files asks to create, after validation."""

    user_id: str
    name: str
    type: str
    is_public: bool
    parent_id: ParentId
    local_path: str | None


class Storage(Protocol):
    """Users and files. Ids are 24-hex strings; malformed ids simply match nothing."""

    async def ping(self) -> bool:
        """True when the backend answers right now."""

    async def close(self) -> None: ...

    # users
    async def create_user(self, email: str, password_hash: str) -> User:
        """Raises EmailTaken when the email is registered already."""

    async def delete_user(self, user_id: str) -> None:
        """Undo a create_user whose follow-up failed."""

    async def user_by_id(self, user_id: str) -> User | None: ...

    async def user_by_email(self, email: str) -> User | None: ...

    async def set_password_hash(self, user_id: str, old_hash: str, new_hash: str) -> bool:
        """Replace the hash only if it still is `old_hash` (a legacy rehash racing another)."""

    async def count_users(self) -> int: ...

    # files, always scoped to a user
    async def create_file(self, new: NewFile) -> FileRecord: ...

    async def delete_file(self, user_id: str, file_id: str) -> None:
        """Undo a create_file whose follow-up failed."""

    async def file_of_user(self, user_id: str, file_id: str) -> FileRecord | None:
        """The file if it exists and belongs to `user_id`."""

    async def file_readable_by(self, user_id: str | None, file_id: str) -> FileRecord | None:
        """The file if it is public or belongs to `user_id` (None: anonymous)."""

    async def children(self, user_id: str, parent_id: ParentId, page: int) -> list[FileRecord]:
        """Page `page` (0-based, PAGE_SIZE items) of the user's files in `parent_id`,
        oldest first (a stable order)."""

    async def set_public(self, user_id: str, file_id: str, is_public: bool) -> FileRecord | None:
        """The updated file, or None when it is not the user's."""

    async def count_files(self) -> int: ...

    # orphan blobs: the job worker's sweep (services/worker/sweeper.py)
    async def blobs_in_use(self, names: set[str]) -> tuple[set[str], int]:
        """(which of `names`, blob file names without a folder, are the last
        part of some file's local path; how many files name a local path at
        all). Matched by name, not whole path: a database written by the
        original may hold its paths in another form. Reads every file's path
        once, off the event loop."""


def blob_name(local_path: str) -> str:
    """The file name of a local path, whichever separator it was written with."""
    return local_path.replace("\\", "/").rsplit("/", 1)[-1]
