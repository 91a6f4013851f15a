"""The edge of the app: one middleware that turns whatever a handler raises
into its JSON error (errors.response_for) and stamps the request id, and the
request line, written once the response has been sent.

The line is written by aiohttp's access-logger hook (`RequestLog`, given to the
runner through RUNNER_OPTIONS), not by the middleware: a FileResponse decides
206, 304, 412 or 416 when aiohttp prepares it, after every middleware has
returned, and only after sending is it known whether the client was still
there. A response that could not be sent in full (the client hung up) is
logged with status 499, nginx's "client closed request".

Only the path is logged: tokens travel in headers, which are never logged.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.log import access_logger
from aiohttp.typedefs import Handler, Middleware

from shared.logging import request_logger, request_logging_enabled

from .drain import Drain
from .errors import CLIENT_CLOSED, response_for
from .metrics import record_request, recording
from .timeouts import HeadTimeouts

log = request_logger("api.access")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
REQUEST_ID_HEADER = "X-Request-Id"
_STARTED = web.RequestKey("started", int)  # perf_counter_ns() when the middleware saw it

# Unique without a syscall per request: a random per-process prefix and a counter.
_PREFIX = os.urandom(8).hex()
_COUNTER = itertools.count()


def _new_request_id() -> str:
    return f"{_PREFIX}{next(_COUNTER):016x}"


def edge_middleware(drain: Drain, head_timeouts: HeadTimeouts) -> Middleware:
    """The middleware for an app whose stopping is signalled by `drain` and
    whose connections' head timers are `head_timeouts` (both captured here,
    not looked up per request: this runs on every request; one middleware,
    not two, as each layer costs every request)."""

    @web.middleware
    async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
        head_timeouts.request_started(request)  # the head is in: its timer stops
        request[_STARTED] = time.perf_counter_ns()
        incoming = request.headers.get(REQUEST_ID_HEADER)
        request_id = incoming if incoming and _REQUEST_ID.fullmatch(incoming) else _new_request_id()
        try:
            try:
                response = await handler(request)
            except Exception as exc:  # noqa: BLE001 - every error becomes a JSON answer
                response = response_for(request, exc)  # raises again for 304s and redirects
            response.headers[REQUEST_ID_HEADER] = request_id
            if drain.active:
                response.force_close()  # before prepare: aiohttp then says Connection: close
            return response
        except web.HTTPException as exc:
            exc.headers[REQUEST_ID_HEADER] = request_id
            if drain.active:
                exc.force_close()
            raise

    return edge


UNMATCHED = "(unmatched)"  # no route: the raw path is never a label (nor logged: it may hold a token)


def route_of(request: web.BaseRequest) -> str:
    """The route's template (`/files/{id}`), never the raw path."""
    match_info = request.match_info if isinstance(request, web.Request) else None
    if match_info is None:  # the request failed before routing (a malformed head)
        return UNMATCHED
    resource = match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


class RequestLog(AbstractAccessLogger):
    """One line per request, written by aiohttp once the response is sent (or
    could not be): method, path, the status actually sent, duration, request id.

    `body_length` is set by aiohttp only when the response was written to its
    end (it counts the status line and headers, so it is never 0 then): 0 here
    means the client went away first."""

    __slots__ = ()

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time_taken: float) -> None:
        started = request.get(_STARTED)
        if started is None:
            duration_us = int(time_taken * 1_000_000)
        else:  # finer than the loop's clock (uvloop's counts milliseconds)
            duration_us = (time.perf_counter_ns() - started) // 1000
        status = response.status if response.body_length else CLIENT_CLOSED
        route = route_of(request)
        record_request(route, request.method, status, duration_us / 1_000_000)
        log.info(
            "request",
            method=request.method,
            path=request.path,
            status=status,
            duration_ms=duration_us / 1000,  # to the microsecond (round() costs as much as the rest)
            request_id=response.headers.get(REQUEST_ID_HEADER),
        )

    @property
    def enabled(self) -> bool:
        return request_logging_enabled() or recording()  # the line also counts the request (/metrics)


# What an aiohttp runner needs to write the request line: serve.py's AppRunner,
# the tests' servers (aiohttp_client(app, server_kwargs=RUNNER_OPTIONS)), the benchmarks.
# `access_log` only has to be set for aiohttp to call RequestLog; its logger is unused.
RUNNER_OPTIONS: dict[str, Any] = {"access_log_class": RequestLog, "access_log": access_logger}
