"""The storage's domain objects and rules, whatever the backend (the interface
itself is protocol.py).

Backends speak these domain objects and raise domain errors only. Every query
a user can trigger takes the owner's id, so no code path above this layer can
reach another user's file by forgetting a check.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from typing import Literal

from bson import ObjectId

FileType = Literal["folder", "file", "image"]
FILE_TYPES: tuple[str, ...] = ("folder", "file", "image")

# The root folder. Stored and returned as the number 0; a document written by
# other tools may hold the string "0", which is the root too and is returned as stored.
ROOT: int = 0
ParentId = int | str

PAGE_SIZE = 20

# Why an item cannot go into a folder (create_file, update_file): the same
# words from every backend, and from the API's early checks.
PARENT_NOT_FOUND = "Parent not found"
NOT_A_FOLDER = "Parent is not a folder"
INTO_ITSELF = "Cannot move a folder into itself"

# Seconds a SQLite write may wait (queued, then for the lock) before StorageBusy;
# the default of storage.write_timeout (config.toml).
DEFAULT_WRITE_TIMEOUT = 10.0
POOL_SIZE = 10  # PostgreSQL connections per process unless storage.pool_size says otherwise
# The column each v2 sort compares, in both SQL backends.
SORT_COLUMN = {"name": "name_key", "updated_at": "updated_at", "size": "size_key"}

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
    # Epoch seconds; for accounts written by the original, the id's timestamp.
    created_at: float = 0.0
    # Set per user by the operator; None: storage.default_quota applies.
    quota_bytes: int | None = None
    # Set by the operator (`users disable`): no login, no token (shared/domain/account_admin.py).
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class Usage:
    """A user's bytes, read fresh (never cached with the User)."""

    used_bytes: int  # live + trashed files' sizes
    reserved_bytes: int  # Upload-Length of the user's unfinished tus uploads
    quota_bytes: int | None  # the user's own quota (None: the default applies)


@dataclass(frozen=True, slots=True)
class UsageDrift:
    """A user whose stored byte counters differ from a recount of the files
    and unfinished uploads (a crash between two writes, a database edited by
    other tools): what `fsck` reports and `recount_usage` sets right."""

    user_id: str
    email: str
    used_bytes: int  # as stored
    reserved_bytes: int  # as stored (SQLite computes it on every read: never drifts)
    counted_used: int
    counted_reserved: int


@dataclass(frozen=True, slots=True)
class FileRecord:
    id: str
    user_id: str
    name: str
    type: str
    is_public: bool
    parent_id: ParentId  # ROOT (0), "0" when stored so by other tools, or the parent's id
    local_path: str | None  # None for folders
    # v2 (api-v2.md). Documents written by the original have none of these:
    # size and sha256 None (size is then read from the blob by the view),
    # times from the id's timestamp, never trashed.
    size: int | None = None  # bytes; 0 for folders
    sha256: str | None = None  # hex; None for folders and legacy documents
    mime_type: str | None = None  # None for folders
    created_at: float = 0.0  # epoch seconds
    updated_at: float = 0.0
    trashed_at: float | None = None  # set on the deleted item and everything below it
    trash_id: str | None = None  # the id of the item whose deletion trashed this one
    has_thumbnails: bool = False  # set by the worker once all widths are written

    @property
    def is_trashed(self) -> bool:
        return self.trashed_at is not None


@dataclass(frozen=True, slots=True)
class NewFile:
    """What POST /files (v1) or v2 asks to create, after validation."""

    user_id: str
    name: str
    type: str
    is_public: bool
    parent_id: ParentId
    local_path: str | None
    size: int | None = None  # v1 uploads know it too; None only when unknown
    sha256: str | None = None
    mime_type: str | None = None


@dataclass(frozen=True, slots=True)
class NewContent:
    """A file's new content (PUT /v2/files/:id/content), already a durable blob."""

    local_path: str
    size: int
    sha256: str
    mime_type: str
    type: str  # "file" or "image": from the bytes


SortField = Literal["name", "updated_at", "size"]


@dataclass(frozen=True, slots=True)
class Order:
    """How a v2 list is sorted. Folders always come first (in both directions);
    within folders and within files by `field` (name compares by
    name_key, a missing size as 0), ties broken by id, all in `descending`
    or ascending order."""

    field: SortField = "name"
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ends: the sort key of its last item, for a keyset seek
    (`WHERE key > position ORDER BY key LIMIT n`), so page 5,000 costs what
    page 1 costs. `value` is name_key(name), updated_at or size (0 if None)."""

    is_folder: bool
    value: str | float | int
    id: str


def name_key(name: str) -> str:
    """What names sort and are searched by: case-folded (NFC already)."""
    return name.casefold()


def position_of(record: FileRecord, order: Order) -> Position:
    """The Position just after `record` in `order` (the next page starts there)."""
    value: str | float | int
    if order.field == "name":
        value = name_key(record.name)
    elif order.field == "updated_at":
        value = record.updated_at
    else:
        value = record.size or 0
    return Position(record.type == "folder", value, record.id)


@dataclass(frozen=True, slots=True)
class ShareLink:
    """A share link (api-v2.md). The token itself is never stored: `token_hash`
    is the SHA-256 hex of it (128 random bits need no slow hash)."""

    id: str
    user_id: str
    file_id: str
    token_hash: str
    created_at: float
    expires_at: float
    password_hash: str | None = None  # argon2id (shared.passwords)
    max_downloads: int | None = None
    downloads: int = 0
    revoked_at: float | None = None


@dataclass(frozen=True, slots=True)
class Upload:
    """A tus upload in progress. Its bytes so far are in `part_path`; `offset`
    of them are durable. `file_id` is set, once, by finish_upload."""

    id: str
    user_id: str
    length: int  # Upload-Length
    offset: int
    name: str  # from Upload-Metadata filename, validated
    parent_id: ParentId
    is_public: bool
    part_path: str
    created_at: float
    expires_at: float
    file_id: str | None = None


def blob_name(local_path: str) -> str:
    """The file name of a local path, whichever separator it was written with."""
    return local_path.replace("\\", "/").rsplit("/", 1)[-1]
