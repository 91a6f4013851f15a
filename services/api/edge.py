"""The edge of the app: one middleware that turns whatever a handler raises
into its JSON error (errors.response_for) and logs one structured line per
request: method, path, status, duration, request id. One layer rather than
two: a middleware costs a few microseconds on every request.

Only the path is logged: tokens travel in headers, which are never logged.
"""

from __future__ import annotations

import itertools
import os
import re
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from shared.logging import request_logger

from .drain import Drain
from .errors import response_for

log = request_logger("api.access")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
REQUEST_ID_HEADER = "X-Request-Id"

# Unique without a syscall per request: a random per-process prefix and a counter.
_PREFIX = os.urandom(8).hex()
_COUNTER = itertools.count()


def _new_request_id() -> str:
    return f"{_PREFIX}{next(_COUNTER):016x}"


def edge_middleware(drain: Drain) -> Middleware:
    """The middleware for an app whose stopping is signalled by `drain`
    (captured here, not looked up per request: this runs on every request)."""

    @web.middleware
    async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER)
        request_id = incoming if incoming and _REQUEST_ID.fullmatch(incoming) else _new_request_id()
        started = time.perf_counter()
        status = 500
        try:
            try:
                response = await handler(request)
            except Exception as exc:  # noqa: BLE001 - every error becomes a JSON answer
                response = response_for(request, exc)  # raises again for 304s and redirects
            status = response.status
            response.headers[REQUEST_ID_HEADER] = request_id
            if drain.active:
                response.force_close()  # before prepare: aiohttp then says Connection: close
            return response
        except web.HTTPException as exc:
            status = exc.status
            exc.headers[REQUEST_ID_HEADER] = request_id
            if drain.active:
                exc.force_close()
            raise
        finally:
            log.info(
                "request",
                method=request.method,
                path=request.path,
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                request_id=request_id,
            )

    return edge
