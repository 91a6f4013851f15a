"""The storage interface (base.py holds the objects it speaks)."""

from __future__ import annotations

from typing import Protocol

from .base import (
    FileRecord,
    NewContent,
    NewFile,
    Order,
    ParentId,
    Position,
    ShareLink,
    Upload,
    Usage,
    UsageDrift,
    User,
)


class Storage(Protocol):
    """Users and files. Ids are 24-hex strings; malformed ids simply match nothing.

    Every method raises domain errors only (shared/errors.py), never a driver's:
    StorageUnavailable (unreachable, I/O error), StorageBusy (a write not started
    or not locked within the write timeout), StorageFull (no room), Invalid
    (text no backend can store), EmailTaken."""

    async def ping(self, timeout: float = 1.0) -> bool:
        """True when the backend answers (reads and takes writes) within
        `timeout` seconds; never blocks the event loop meanwhile."""

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

    # users, for the operator (services/cli/users.py)
    async def set_disabled(self, user_id: str, disabled: bool) -> bool:
        """Mark the account disabled (or not); False: no such user."""

    async def list_users(self, limit: int, after: str | None) -> list[User]:
        """Up to `limit` users in id order (ids start with their creation second), after the id `after`."""

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

    # the operator's consistency check: `python supervisor.py fsck` (services/cli/fsck.py)
    async def count_files_with_blobs(self) -> int:
        """How many files (any user, live or trashed) name a local path."""

    async def files_with_blobs(self, after: str | None, limit: int) -> list[FileRecord]:
        """Up to `limit` files (any user, live or trashed) that name a local
        path, by id, after the id `after` (None: from the first): a keyset
        walk, so a million files are read a page at a time. Read off the
        event loop."""

    async def usage_drifts(self) -> list[UsageDrift]:
        """Every user whose stored counters differ from a recount (read off the event loop)."""

    async def recount_usage(self, user_id: str) -> Usage:
        """Set the user's counters to what their files and unfinished uploads
        hold; the usage after. An operator's repair (MongoDB: a write racing it
        may be miscounted; SQLite: one transaction)."""
