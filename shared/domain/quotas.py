"""A user's quota: their own (set by the operator) or the service's default.

The bytes counted are the user's live and trashed files plus what their
unfinished resumable uploads have reserved (storage `Usage`). A check here is
an early answer for a client (before or while bytes are written); the
storage enforces the same limit atomically when the file is stored.
"""

from __future__ import annotations

from shared.errors import QuotaExceeded, TooLarge
from shared.storage import Storage, Usage


def effective_quota(own_quota: int | None, default_quota: int) -> int | None:
    """The quota that applies: the user's own (set by the operator), else
    storage.default_quota when it is > 0; None: unlimited."""
    if own_quota is not None:
        return own_quota
    return default_quota if default_quota > 0 else None


async def current_quota(storage: Storage, user_id: str, default_quota: int) -> int | None:
    """The quota a new file or upload is checked against, read fresh (the
    operator may have just set it; the API's user cache may be seconds old)."""
    return effective_quota((await storage.usage(user_id)).quota_bytes, default_quota)


def room_left(usage: Usage, default_quota: int) -> int | None:
    """Bytes the user may still add (0 when over already); None: unlimited."""
    quota = effective_quota(usage.quota_bytes, default_quota)
    if quota is None:
        return None
    return max(0, quota - usage.used_bytes - usage.reserved_bytes)


class UploadLimits:
    """The two limits the files of one request are held to as their bytes
    arrive: storage.max_file_size per file (TooLarge, 413) and the room left
    in the user's quota for all of them together (QuotaExceeded, 507). A
    request over both gets TooLarge: once past the quota, a file's bytes are
    no longer kept but still counted to its end (or past max_file_size), so
    the answer says which limit it broke."""

    def __init__(self, max_file_size: int, room: int | None) -> None:
        self.max_file_size = max_file_size
        self.room = room  # None: unlimited
        self.total = 0  # bytes of the request's files so far
        self.file_size = 0  # bytes of the file in progress
        self.over_quota = False

    def announce(self, size: int) -> None:
        """One file's size, known before its first byte (a raw body's Content-Length)."""
        if size > self.max_file_size:
            raise TooLarge()
        if self.room is not None and self.total + size > self.room:
            raise QuotaExceeded()

    def announce_form(self, body_length: int, framing: int) -> None:
        """A form's Content-Length: its files take at least `body_length -
        framing` bytes together, none of them more than `body_length`. The
        quota is refused up front only when no file can pass max_file_size."""
        if body_length <= self.max_file_size and self.room is not None and body_length - framing > self.room:
            raise QuotaExceeded()

    def start_file(self) -> None:
        self.file_size = 0

    def add(self, size: int) -> bool:
        """Count `size` more bytes of the file in progress (TooLarge past
        max_file_size); False when they are over the quota and not to be kept."""
        self.file_size += size
        self.total += size
        if self.file_size > self.max_file_size:
            raise TooLarge()
        if self.room is not None and self.total > self.room:
            self.over_quota = True
        return not self.over_quota

    def end_file(self) -> None:
        """The file in progress is complete: QuotaExceeded if it did not fit."""
        if self.over_quota:
            raise QuotaExceeded()
