"""Domain errors. They carry the contract's message; only the API's error
middleware (services/api/errors.py) decides which HTTP status each one means."""


class DomainError(Exception):
    """Base of every error a client can cause; `message` is shown to the client."""

    message = "Bad request"

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)


class Invalid(DomainError):
    """The request is malformed or misses something (400)."""


class Unauthorized(DomainError):
    """No user behind the credentials (401)."""

    message = "Unauthorized"


class AccountDisabled(Unauthorized):
    """Right credentials for an account the operator disabled: 401 as any
    failed login; v2 says why (v1's /connect keeps `Unauthorized`). Only
    ever raised after the password checked, so it tells nothing to a guesser."""

    message = "Account disabled"
    code = "account_disabled"


class NotFound(DomainError):
    """No such thing for this caller (404): unknown and forbidden look the same."""

    message = "Not found"


class EmailTaken(Invalid):
    message = "Already exist"


class StorageUnavailable(Exception):
    """The database or Redis does not answer: not the client's fault (503)."""


class SchemaMismatch(StorageUnavailable):
    """The database's schema is not the one this version runs on: older, with
    storage.migrate = "manual" (the message names the command to run), or
    newer. Waiting does not change it, so a start fails at once."""


class TooManyAttempts(DomainError):
    """Too many failed logins or sign-ups from this client (429); try again in `retry_after` s."""

    message = "Too many attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = max(1, int(retry_after))


class StorageBusy(StorageUnavailable):
    """The database did not take a write within the allowed wait (503, worth a retry)."""


class StorageFull(Exception):
    """The disk (or the database's) has no room left for what was asked (507)."""


class Overloaded(Exception):
    """This process has taken in as much as it may at once (503); try again in `retry_after` s."""

    def __init__(self, reason: str, retry_after: int = 1) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


# v2 (api-v2.md): each error also has a stable snake_case `code` for clients.
# Where a v1 error is reused on v2 its code is derived from its class.


class Forbidden(DomainError):
    """The caller is known but may not do this (403)."""

    message = "Forbidden"
    code = "forbidden"


class SignupClosed(Forbidden):
    message = "Sign-up is closed"
    code = "signup_closed"


class WrongPassword(Forbidden):
    """The current password given to change it is wrong (403)."""

    message = "Wrong password"
    code = "wrong_password"


class Conflict(DomainError):
    """The request does not fit the current state (409): an upload offset that moved on."""

    message = "Conflict"
    code = "conflict"


class Gone(DomainError):
    """A share link that no longer works: expired, revoked, used up, its file trashed (410)."""

    message = "Link expired"
    code = "link_expired"


class PasswordRequired(DomainError):
    """A share link's password is needed first (401)."""

    message = "Password required"
    code = "password_required"


class TooLarge(DomainError):
    """Bigger than storage.max_file_size (413)."""

    message = "File too large"
    code = "file_too_large"


class QuotaExceeded(DomainError):
    """The user's live + trashed bytes would pass their quota (507)."""

    message = "Quota exceeded"
    code = "quota_exceeded"


class ChecksumMismatch(DomainError):
    """A tus chunk whose Upload-Checksum does not match its bytes (460, the chunk dropped)."""

    message = "Checksum mismatch"
    code = "checksum_mismatch"


class InvalidEmail(Invalid):
    message = "Invalid email"
    code = "invalid_email"


class PasswordTooShort(Invalid):
    message = "Password too short"
    code = "password_too_short"


class PasswordTooLong(Invalid):
    message = "Password too long"
    code = "password_too_long"


class UnsupportedVersion(DomainError):
    """A tus request that does not speak tus 1.0.0 (412; the answer names the versions we do)."""

    message = "Unsupported tus version: send Tus-Resumable: 1.0.0"
    code = "unsupported_version"


class UnsupportedMediaType(DomainError):
    """A body of a type the route does not take (415): a tus chunk must be
    application/offset+octet-stream."""

    message = "Unsupported Content-Type: a tus chunk is application/offset+octet-stream"
    code = "unsupported_media_type"


class WrongLinkPassword(PasswordRequired):
    """A share link's password given wrong (401: asked again)."""

    message = "Wrong password"
    code = "wrong_password"
