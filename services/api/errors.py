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
    ChecksumMismatch,
    Conflict,
    DomainError,
    EmailTaken,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    Overloaded,
    PasswordRequired,
    QuotaExceeded,
    StorageFull,
    StorageUnavailable,
    TooLarge,
    TooManyAttempts,
    Unauthorized,
    UnsupportedMediaType,
    UnsupportedVersion,
)
from shared.log_throttle import LogThrottle
from shared.logging import get_logger

from .keys import ERROR_REPORTER
from .request_route import route_of
from .views import json_response

log = get_logger("api")
# A backend outage fails every request the same way: one line per interval and
# kind of error, with the count of the requests it stands for.
_outage_log = LogThrottle(log)

# nginx's "client closed request": the client hung up before the answer was sent.
CLIENT_CLOSED = 499

_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (Unauthorized, 401),
    (PasswordRequired, 401),
    (NotFound, 404),
    (Forbidden, 403),
    (Conflict, 409),
    (Gone, 410),
    (TooLarge, 413),
    (QuotaExceeded, 507),
    (ChecksumMismatch, 460),
    (UnsupportedVersion, 412),
    (UnsupportedMediaType, 415),
    (Invalid, 400),
)

# v2 and /s/ answers carry a stable `code` beside the message (api-v2.md).
_V2_PREFIXES = ("/v2/", "/s/")
_CODES: tuple[tuple[type[DomainError], str], ...] = (
    (EmailTaken, "already_exists"),
    (Unauthorized, "unauthorized"),
    (NotFound, "not_found"),
    (TooManyAttempts, "too_many_attempts"),
    (Invalid, "invalid"),
)
_STATUS_CODES = {
    400: "invalid", 404: "not_found", 405: "method_not_allowed", 408: "request_timeout",
    412: "precondition_failed", 413: "too_large",
    415: "unsupported_media_type", 499: "client_closed", 500: "internal", 503: "unavailable",
    507: "insufficient_storage",
}

# The storage backends raise domain errors only (shared/storage/guard.py).
_UNAVAILABLE = (
    StorageUnavailable,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.OutOfMemoryError,  # maxmemory reached: writes refused until Redis has room
)

# Messages for aiohttp's own errors (unknown route, wrong method, body too large).
_HTTP_MESSAGES = {404: "Not found", 405: "Method not allowed"}


def error_response(status: int, message: str, headers=None, code: str | None = None) -> web.Response:
    body = {"error": message} if code is None else {"error": message, "code": code}
    return json_response(body, status=status, headers=headers)


def is_v2(request: web.Request) -> bool:
    return request.path.startswith(_V2_PREFIXES)


def _status_of(exc: DomainError, v2: bool) -> int:
    if v2 and isinstance(exc, EmailTaken):
        return 409  # v1 keeps the original's 400
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def _code_of(exc: DomainError) -> str:
    code = getattr(exc, "code", None)
    if isinstance(code, str):
        return code
    for cls, name in _CODES:
        if isinstance(exc, cls):
            return name
    return "invalid"


def response_for(request: web.Request, exc: Exception) -> web.Response:
    """The JSON error response for `exc`, with a `code` on v2 and /s/.
    Redirects and 304 Not Modified are answers, not errors: they are raised
    again for aiohttp to send."""
    status, message, headers = _error_of(request, exc)
    code = None
    if is_v2(request):
        code = _code_of(exc) if isinstance(exc, DomainError) else _STATUS_CODES.get(status, "error")
    return error_response(status, message, headers=headers, code=code)


def status_of(request: web.Request, exc: DomainError) -> tuple[int, dict[str, str] | None]:
    """The status and headers a domain error answers with, for answers that
    are not JSON (the HTML pages of /s/ share links)."""
    status, _, headers = _error_of(request, exc)
    return status, headers


def _error_of(request: web.Request, exc: Exception) -> tuple[int, str, dict[str, str] | None]:
    if isinstance(exc, TooManyAttempts):
        return 429, exc.message, {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, DomainError):
        return _status_of(exc, is_v2(request)), exc.message, None
    if isinstance(exc, StorageFull):
        # The operator has to act (free space): said in the log, folded like an outage.
        _outage_log.warning("storage.full", kind=type(exc).__name__, error=str(exc), route=route_of(request))
        return 507, "Insufficient storage", None
    if isinstance(exc, Overloaded):
        return 503, "Service unavailable", {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        if exc.status == 413:
            message = f"Request body too large: {exc.text}"
        else:
            message = _HTTP_MESSAGES.get(exc.status, exc.reason)
        return exc.status, message, {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
    if isinstance(exc, _UNAVAILABLE):
        _outage_log.warning("backend.unavailable", kind=type(exc).__name__, error=repr(exc),
                             route=route_of(request))
        return 503, "Service unavailable", {"Retry-After": "1"}
    if isinstance(exc, ConnectionError) and _client_gone(request):
        # Nobody to answer (the request line says 499) and nothing of ours failed: no traceback.
        return CLIENT_CLOSED, "Client closed request", None
    request.app[ERROR_REPORTER](exc, method=request.method, route=route_of(request))
    return 500, "Internal server error", None


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def log_request_error(exc: BaseException, **context: Any) -> None:
    """The default reporter: one line with the traceback."""
    log.error("request.error", exc_info=exc, **context)
