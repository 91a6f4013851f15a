"""The one place where exceptions become HTTP responses.

Domain errors carry the contract's message; `response_for` picks the status.
The edge middleware (edge.py) calls it for anything a handler raises.
A backend that does not answer is a 503 (not the client's fault, worth a retry);
a client that hung up mid-request gets nothing (its request line says 499);
anything else unexpected is a 500, logged once with its traceback, and the
process goes on serving.
"""

from __future__ import annotations

from typing import Any

import redis.exceptions
from aiohttp import web

from shared.errors import (
    DomainError,
    Invalid,
    NotFound,
    Overloaded,
    StorageFull,
    StorageUnavailable,
    TooManyAttempts,
    Unauthorized,
)
from shared.log_throttle import LogThrottle
from shared.logging import get_logger

from .keys import ERROR_REPORTER
from .views import json_response

log = get_logger("api")
# A backend outage fails every request the same way: one line per interval and
# kind of error, with the count of the requests it stands for.
_outage_log = LogThrottle(log)

# nginx's "client closed request": the client hung up before the answer was sent.
CLIENT_CLOSED = 499

_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (Unauthorized, 401),
    (NotFound, 404),
    (Invalid, 400),
)

# The storage backends raise domain errors only (shared/storage/guard.py).
_UNAVAILABLE = (
    StorageUnavailable,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.OutOfMemoryError,  # maxmemory reached: writes refused until Redis has room
)

# Messages for aiohttp's own errors (unknown route, wrong method, body too large).
_HTTP_MESSAGES = {404: "Not found", 405: "Method not allowed"}


def error_response(status: int, message: str, headers=None) -> web.Response:
    return json_response({"error": message}, status=status, headers=headers)


def _status_of(exc: DomainError) -> int:
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def response_for(request: web.Request, exc: Exception) -> web.Response:
    """The JSON error response for `exc`. Redirects and 304 Not Modified are
    answers, not errors: they are raised again for aiohttp to send."""
    if isinstance(exc, TooManyAttempts):
        return error_response(429, exc.message, headers={"Retry-After": str(exc.retry_after)})
    if isinstance(exc, DomainError):
        return error_response(_status_of(exc), exc.message)
    if isinstance(exc, StorageFull):
        # The operator has to act (free space): said in the log, folded like an outage.
        _outage_log.warning("storage.full", kind=type(exc).__name__, error=str(exc), path=request.path)
        return error_response(507, "Insufficient storage")
    if isinstance(exc, Overloaded):
        return error_response(503, "Service unavailable", headers={"Retry-After": str(exc.retry_after)})
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        if exc.status == 413:
            message = f"Request body too large: {exc.text}"
        else:
            message = _HTTP_MESSAGES.get(exc.status, exc.reason)
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return error_response(exc.status, message, headers=headers)
    if isinstance(exc, _UNAVAILABLE):
        _outage_log.warning("backend.unavailable", kind=type(exc).__name__, error=repr(exc), path=request.path)
        return error_response(503, "Service unavailable", headers={"Retry-After": "1"})
    if isinstance(exc, ConnectionError) and _client_gone(request):
        # Nobody to answer (the request line says 499) and nothing of ours failed: no traceback.
        return error_response(CLIENT_CLOSED, "Client closed request")
    request.app[ERROR_REPORTER](exc, method=request.method, path=request.path)
    return error_response(500, "Internal server error")


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def log_request_error(exc: BaseException, **context: Any) -> None:
    """The default reporter: one line with the traceback."""
    log.error("request.error", exc_info=exc, **context)
