"""The storage interface: users and file metadata, whatever the backend.

Backends speak these domain objects and raise domain errors only. Every query
a user can trigger takes the owner's id, so no code path above this layer can
reach another user's file by forgetting a check.
"""

from __future__ import annotations

import os
import re
import time
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

# Seconds a SQLite write may wait (queued, then for the lock) before StorageBusy;
# the default of storage.write_timeout (config.toml).
DEFAULT_WRITE_TIMEOUT = 10.0

_OBJECT_ID = re.compile(r"[0-9a-fA-F]{24}")


def new_object_id() -> ObjectId:
    """A fresh id, the only place ids are made (users and files, every backend).

    A valid ObjectId whose 4-byte timestamp is followed by 8 bytes from the OS's
    CSPRNG, where bson puts a per-process constant and a counter: an id seen
    (a public file's, say) tells nothing about any other id, so ids cannot be
    guessed from a neighbour's. 64 random bits per second of creation time."""
    return ObjectId(int(time.time()).to_bytes(4, "big") + os.urandom(8))


def new_id() -> str:
    """A fresh id as text: 24 lowercase hex digits (see new_object_id)."""
    return str(new_object_id())


def email_key(email: str) -> str:
    """What emails are compared by: trimmed and case-folded, so `A@X.IO` and
    ` a@x.io` are one account. The email itself is stored and shown as typed."""
    return email.strip().casefold()


def is_storable_text(value: object) -> bool:
    """Whether `value` is a str both backends can store (UTF-8: no lone surrogates)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
    """Users and files. Ids are 24-hex strings; malformed ids simply match nothing.

    Every method raises domain errors only (shared/errors.py), never a driver's:
    StorageUnavailable (unreachable, I/O error), StorageBusy (a write not started
    or not locked within the write timeout), StorageFull (no room), Invalid
    (text no backend can store), EmailTaken."""

    async def ping(self) -> bool:
        """True when the backend answers right now."""

    async def close(self) -> None: ...

    # users
    async def create_user(self, email: str, password_hash: str) -> User:
        """Raises EmailTaken when an account has the same email_key (enforced by
        the database, so racing sign-ups cannot both succeed). The email is
        stored exactly as given."""

    async def delete_user(self, user_id: str) -> None:
        """Undo a create_user whose follow-up failed."""

    async def user_by_id(self, user_id: str) -> User | None: ...

    async def user_by_email(self, email: str) -> User | None:
        """The account of `email` compared by email_key; an account whose email
        is exactly `email` first (legacy accounts differing only in case)."""

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
        in a stable order, oldest first (SQLite: creation order; MongoDB: by id,
        so by the second of creation, and in no particular order within one)."""

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
