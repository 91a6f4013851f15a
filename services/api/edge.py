"""The edge of the app: one middleware that turns whatever a handler raises
into its JSON error (errors.response_for) and stamps the request id, and the
request line, written once the response has been sent.

The line is written by aiohttp's access-logger hook (`RequestLog`, given to the
runner through RUNNER_OPTIONS), not by the middleware: a FileResponse decides
206, 304, 412 or 416 when aiohttp prepares it, after every middleware has
returned, and only after sending is it known whether the client was still
there. A response that could not be sent in full (the client hung up) is
logged with status 499, nginx's "client closed request".

The line names the route's template, never the raw path (a share link's path
holds its token) nor the query string; tokens travel in headers, which are
never logged.
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

from shared.logging import REQUEST_ID, request_logger, request_logging_enabled

from .auth import AUTHENTICATED
from .drain import Drain
from .errors import CLIENT_CLOSED, response_for
from .metrics import record_request, recording
from .request_route import route_of
from .timeouts import HeadTimeouts

log = request_logger("api.access")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
REQUEST_ID_HEADER = "X-Request-Id"
_STARTED = web.RequestKey("started", int)  # perf_counter_ns() when the middleware saw it

# Unique without a syscall per request: a random prefix per process (64 bits:
# a collision among a million processes of a fleet has odds of 1 in 3.6e7)
# and a counter. Made again in every forked child: the API workers are forked
# from a master that imported this module, and would hand out the same ids.
_PREFIX = ""
_COUNTER = itertools.count()


def _new_prefix() -> None:
    global _PREFIX, _COUNTER
    _PREFIX = os.urandom(8).hex()
    _COUNTER = itertools.count()


_new_prefix()
os.register_at_fork(after_in_child=_new_prefix)


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
        # For every line written in this request's task (aiohttp runs each
        # request in a task of its own: nothing to reset) and the jobs it enqueues.
        REQUEST_ID.set(request_id)
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


_NO_BODY = frozenset({204, 304})


class RequestLog(AbstractAccessLogger):
    """One line per request, written by aiohttp once the response is sent (or
    could not be): method, route template, the status actually sent, body
    bytes sent, duration, request id, and the user when the request
    authenticated one (auth.AUTHENTICATED).

    `body_length` is set by aiohttp only when the response was written to its
    end (it counts the status line and headers, so it is never 0 then): 0 here
    means the client went away first, and the body bytes are then logged as 0
    (a zero-copy download's progress is not known here). Every response of
    ours has a Content-Length, so a whole body's size is that."""

    __slots__ = ()

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time_taken: float) -> None:
        started = request.get(_STARTED)
        if started is None:
            duration_us = int(time_taken * 1_000_000)
        else:  # finer than the loop's clock (uvloop's counts milliseconds)
            duration_us = (time.perf_counter_ns() - started) // 1000
        method = request.method
        if response.body_length:
            status = response.status
            sent = 0 if method == "HEAD" or status in _NO_BODY else (response.content_length or 0)
        else:
            status, sent = CLIENT_CLOSED, 0
        route = route_of(request)
        record_request(route, method, status, duration_us / 1_000_000)
        log.info(
            "request",
            method=method,
            route=route,
            status=status,
            bytes=sent,
            duration_ms=duration_us / 1000,  # to the microsecond (round() costs as much as the rest)
            request_id=response.headers.get(REQUEST_ID_HEADER),
            user_id=AUTHENTICATED.get(),  # set in this request's task (auth.optional_user)
        )

    @property
    def enabled(self) -> bool:
        return request_logging_enabled() or recording()  # the line also counts the request (/metrics)


# What an aiohttp runner needs to write the request line: serve.py's AppRunner,
# the tests' servers (aiohttp_client(app, server_kwargs=RUNNER_OPTIONS)), the benchmarks.
# `access_log` only has to be set for aiohttp to call RequestLog; its logger is unused.
RUNNER_OPTIONS: dict[str, Any] = {"access_log_class": RequestLog, "access_log": access_logger}
