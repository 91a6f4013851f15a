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


class NotFound(DomainError):
    """No such thing for this caller (404): unknown and forbidden look the same."""

    message = "Not found"


class EmailTaken(Invalid):
    message = "Already exist"


class StorageUnavailable(Exception):
    """The database or Redis does not answer: not the client's fault (503)."""


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
