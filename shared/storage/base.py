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

# Why an item cannot go into a folder (create_file, update_file): the same
# words from every backend, and from the API's early checks.
PARENT_NOT_FOUND = "Parent not found"
NOT_A_FOLDER = "Parent is not a folder"
INTO_ITSELF = "Cannot move a folder into itself"

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
    # Epoch seconds; for accounts written by the original, the id's timestamp.
    created_at: float = 0.0
    # Set per user by the operator; None: storage.default_quota applies.
    quota_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """A user's bytes, read fresh (never cached with the User)."""

    used_bytes: int  # live + trashed files' sizes
    reserved_bytes: int  # Upload-Length of the user's unfinished tus uploads
    quota_bytes: int | None  # the user's own quota (None: the default applies)


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
    async def create_file(self, new: NewFile, quota: int | None = None) -> FileRecord:
        """Store a new file (created_at = updated_at = now) and add new.size to
        the user's used bytes in the same transaction, refusing with
        QuotaExceeded when used + reserved (unfinished uploads) + size would
        pass `quota` (the quota that applies, domain.quotas.effective_quota;
        None: unlimited). A parent other than ROOT must be
        a live folder of the user, checked in the same transaction (a folder
        trashed meanwhile): else Invalid("Parent not found") /
        Invalid("Parent is not a folder")."""

    async def delete_file(self, user_id: str, file_id: str) -> None:
        """Undo a create_file whose follow-up failed."""

    async def file_of_user(self, user_id: str, file_id: str) -> FileRecord | None:
        """The file if it exists and belongs to `user_id`."""

    async def file_readable_by(self, user_id: str | None, file_id: str) -> FileRecord | None:
        """The file if it is public or belongs to `user_id` (None: anonymous)."""

    async def children(self, user_id: str, parent_id: ParentId, page: int) -> list[FileRecord]:
        """Page `page` (0-based, PAGE_SIZE items) of the user's files in `parent_id`,
        in a stable order, oldest first: creation order (MongoDB: documents
        written by the original, which hold no position, first, by id)."""

    async def set_public(self, user_id: str, file_id: str, is_public: bool) -> FileRecord | None:
        """The updated file, or None when it is not the user's."""

    async def count_files(self) -> int: ...

    # ---- v2 (api-v2.md). "Live" means not trashed. Every v1 read above
    # (file_of_user, file_readable_by, children) sees live files only, and
    # children() of a trashed folder is empty.

    async def usage(self, user_id: str) -> Usage:
        """Fresh from the database (used bytes move with every upload)."""

    async def set_quota(self, user_id: str, quota_bytes: int | None) -> bool:
        """The operator's per-user quota (None: the default). False: no such user."""

    async def file_with_trashed(self, user_id: str, file_id: str) -> FileRecord | None:
        """The user's file whether live or trashed."""

    async def list_files(
        self, user_id: str, parent_id: ParentId, order: Order, limit: int, after: Position | None
    ) -> list[FileRecord]:
        """Up to `limit` live items of the folder, in `order`, after `after`."""

    async def search_files(
        self, user_id: str, text: str, order: Order, limit: int, after: Position | None
    ) -> list[FileRecord]:
        """Up to `limit` of the user's live items, in any folder, whose
        name_key contains name_key(text), in `order`, after `after`."""

    async def ancestors(self, user_id: str, file_id: str) -> list[FileRecord]:
        """The folders from the root down to the file's parent (empty at the root)."""

    async def update_file(
        self,
        user_id: str,
        file_id: str,
        *,
        name: str | None = None,
        parent_id: ParentId | None = None,
        is_public: bool | None = None,
        now: float,
    ) -> FileRecord:
        """Rename, move, publish, in one transaction; updated_at = now.
        NotFound when not a live file of the user; Invalid("Parent not found")
        / Invalid("Parent is not a folder") / Invalid("Cannot move a folder
        into itself") for a bad target. A moved file goes to the end of its
        new folder's v1 order."""

    async def replace_content(
        self, user_id: str, file_id: str, content: NewContent, quota: int | None, now: float
    ) -> tuple[FileRecord, str | None]:
        """Point a live file at new content (size, hash, type, mime type;
        has_thumbnails False; updated_at = now), moving the user's used bytes
        by the difference, refused with QuotaExceeded as create_file
        is. Returns the record and the old blob's path (to remove). NotFound
        when not a live file of the user, Invalid for a folder."""

    async def set_thumbnails(self, file_id: str, local_path: str) -> None:
        """has_thumbnails = True if the file still points at `local_path`
        (content replaced meanwhile: its own job will say so)."""

    async def trash_file(self, user_id: str, file_id: str, now: float) -> FileRecord:
        """Move a live item, and every live item below it, to the trash
        (trashed_at = now, trash_id = file_id); the item leaves its folder's
        v1 order. NotFound when not a live item of the user."""

    async def restore_file(self, user_id: str, file_id: str, now: float) -> FileRecord:
        """Bring back everything trashed with `file_id` (the top of a
        deletion); to the root when its parent is gone or trashed. NotFound
        when `file_id` is not the top of one of the user's deletions."""

    async def trashed_files(self, user_id: str, limit: int, after: tuple[float, str] | None) -> list[FileRecord]:
        """Tops of the user's deletions, newest first (trashed_at, then id,
        descending); `after` is the last one's (trashed_at, id)."""

    async def purge_file(self, user_id: str, file_id: str) -> list[str]:
        """Delete for good the user's item (live or trashed) and everything
        below it, with their share links; the user's used bytes go down in
        the same transaction. Returns the blob paths to remove (a job's work).
        NotFound when not the user's."""

    async def purge_trash(self, user_id: str) -> list[str]:
        """purge_file for every trashed item of the user; the blob paths."""

    async def trashed_before(self, cutoff: float, limit: int) -> list[FileRecord]:
        """Tops of deletions (any user) trashed before `cutoff`: retention's work."""

    # share links
    async def create_link(self, link: ShareLink) -> ShareLink: ...

    async def links_of_file(self, user_id: str, file_id: str) -> list[ShareLink]:
        """The file's links, revoked ones included, newest first."""

    async def link_of_user(self, user_id: str, link_id: str) -> ShareLink | None: ...

    async def link_by_token_hash(self, token_hash: str) -> ShareLink | None: ...

    async def revoke_link(self, user_id: str, link_id: str, now: float) -> bool:
        """revoked_at = now (kept, so /s/ says 410); False when not the user's."""

    async def count_download(self, link_id: str) -> bool:
        """downloads += 1 unless that would pass max_downloads (atomic); False then."""

    # tus uploads
    async def create_upload(self, upload: Upload, quota: int | None) -> Upload:
        """Store a new upload, refused with QuotaExceeded when used + reserved
        + upload.length would pass `quota` (None: unlimited)."""

    async def upload_of_user(self, user_id: str, upload_id: str) -> Upload | None: ...

    async def set_upload_offset(self, upload_id: str, old_offset: int, new_offset: int) -> bool:
        """Compare-and-set; False when the offset is no longer `old_offset`."""

    async def finish_upload(self, upload_id: str, new: NewFile, now: float) -> FileRecord:
        """Create the file of a complete upload and mark the upload finished
        with its file_id, in one transaction, at most once: a second call
        returns the first call's record. Bytes counted as create_file does
        (the reservation is already in the quota). Parent gone or trashed
        meanwhile: the file goes to the root."""

    async def delete_upload(self, user_id: str, upload_id: str) -> Upload | None:
        """Forget an unfinished upload (termination); the removed one, or None."""

    async def expired_uploads(self, now: float, limit: int) -> list[Upload]:
        """Uploads (finished or not) whose expires_at has passed: the worker
        removes their part files, then delete_upload()s them."""

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
