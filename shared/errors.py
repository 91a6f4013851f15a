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
