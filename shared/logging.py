"""structlog set-up: one line per event, JSON off a terminal, console on one.

The standard library's loggers (aiohttp, asyncio, pymongo) go through the same
renderer, so every line of a process has one format.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import sys
import threading
from collections.abc import MutableMapping
from contextvars import ContextVar
from datetime import UTC, datetime
from time import time_ns
from typing import Any, TextIO

import orjson
import structlog

from .config import LogSettings
from .log_throttle import flush_throttles

# The request a line is written for: set by the API's edge middleware for the
# request's task, by the job worker for a job's task (the id of the request
# that enqueued it). One ContextVar rather than structlog's bound contextvars:
# setting it costs every request ~0.05 us instead of ~0.5 us.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request this code runs for, if any."""
    return REQUEST_ID.get()


def _add_request_id(logger: object, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: every line written for a request names it."""
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


def _format(fmt: str) -> str:
    if fmt == "auto":
        return "console" if sys.stdout.isatty() else "json"
    return fmt


def _renderer(fmt: str):
    fmt = _format(fmt)
    if fmt == "console":
        return structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())
    return structlog.processors.JSONRenderer(serializer=_dumps)


def _dumps(obj, default=None, **_: object) -> str:
    # orjson: a request line is rendered on every request, json.dumps costs 3x more.
    return orjson.dumps(obj, default=default).decode()


class BufferedLineLogger:
    """A structlog logger for high-volume lines (one per request): lines are
    collected and written together at most `delay` seconds later, in chunks of
    whole lines of at most 4 KiB (one write(2) each, atomic on a pipe shared
    with other processes). A write per line cost the API a fifth of its
    throughput. Outside an event loop, or when `delay` is 0, lines go out at once.
    Lines still held at exit are written by `flush()` (at shutdown and atexit).
    Lines are UTF-8 bytes ending in a newline, copied into one buffer as they
    come and written to the binary stdout, so nothing is re-encoded. One
    buffer rather than a list of the lines: holding a few hundred small bytes
    objects until the write cost a request line 2 us more (cache misses and
    allocator churn) than copying each into a bytearray and freeing it at once.
    The lock makes lines from other threads safe; uncontended it costs 0.1 us."""

    CHUNK = 4096
    HOLD = 64 * 1024  # bytes held before writing without waiting for the delay

    def __init__(self, delay: float = 0.1) -> None:
        self.delay = delay
        self._buffer = bytearray()
        self._lock = threading.Lock()
        self._timer: asyncio.TimerHandle | None = None

    def msg(self, message: str) -> None:
        self.add(message.encode("utf-8", "replace") + b"\n")

    debug = info = warning = warn = error = critical = exception = fatal = log = msg

    def add(self, line: bytes) -> None:
        """Hold one line (bytes ending in a newline)."""
        with self._lock:
            self._buffer += line
            held = len(self._buffer)
        if held >= self.HOLD or self.delay <= 0:
            self._write_out()
        elif self._timer is None:  # armed once per batch
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self._write_out()
                return
            self._timer = loop.call_later(self.delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._write_out()

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._write_out()

    def _write_out(self) -> None:
        with self._lock:
            data, self._buffer = self._buffer, bytearray()
        if not data:
            return
        out = sys.stdout
        binary = getattr(out, "buffer", None)
        if binary is not None:
            out.flush()  # whatever the text layer holds goes first
        view = memoryview(data)
        start, size = 0, len(data)
        while size - start > self.CHUNK:  # whole lines, at most CHUNK bytes a write
            end = data.rfind(b"\n", start, start + self.CHUNK) + 1
            if end <= start:  # one line longer than CHUNK goes out whole
                end = data.find(b"\n", start + self.CHUNK) + 1 or size
            self._write(out, binary, view[start:end])
            start = end
        if start < size:
            self._write(out, binary, view[start:])

    @staticmethod
    def _write(out, binary, data: memoryview) -> None:
        if binary is not None:
            binary.write(data)
            binary.flush()
        else:
            out.write(bytes(data).decode("utf-8", "replace"))
            out.flush()


request_lines = BufferedLineLogger()


_LINE = orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE


class _Sink:
    """How high-volume lines are written, set by configure_logging."""

    def __init__(self) -> None:
        self.structlog = structlog.wrap_logger(request_lines)
        self.json_lines = False
        self.enabled = True
        self.context: dict[str, object] = {}
        self.reserved: frozenset[str] = frozenset()  # keys the end of every line holds
        self._tails: dict[str, bytes] = {}

    def set_context(self, context: dict[str, object]) -> None:
        self.context = dict(context)
        self.reserved = frozenset({*context, "event", "level", "timestamp"})
        self._tails = {}

    def tail(self, event: str) -> bytes:
        """The rendered end of a line: the context, event and level, up to the
        timestamp's value (the same for every line of `event` in this process)."""
        tail = self._tails.get(event)
        if tail is None:
            middle = orjson.dumps({**self.context, "event": event, "level": "info"})[1:-1]
            tail = self._tails[event] = middle + b',"timestamp":"'
        return tail


class _Stamp:
    """Now as orjson writes a UTC datetime (and structlog's ISO stamp reads):
    `2026-12-01T23:43:04.627917Z`, the fraction only when not zero. The part
    down to the second is formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = b""

    def __call__(self) -> bytes:
        ns = time_ns()
        second, micro = ns // 1_000_000_000, ns // 1000 % 1_000_000
        if second != self._second:
            self._second = second
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S").encode()
        return self._prefix + b".%06dZ" % micro if micro else self._prefix + b"Z"


_stamp = _Stamp()


class _RequestLogger:
    """High-volume lines (one per request, two per job) into the buffered sink.
    In JSON mode a line is rendered here directly, in the very shape structlog
    gives every other line (the process's bound context, the fields, the
    process's context, event, level, timestamp): structlog's generic chain cost
    22 us a line. Only the bound context and the fields are rendered per line
    (one orjson call); the rest of the line is the same for every line of an
    event and is rendered once (`_Sink.tail`), the timestamp once a second
    (`_Stamp`): a whole dict and a datetime per line made the request line
    about a sixth of the cost of an authenticated GET /files/:id. Fields that
    would collide with that end take the slower, merging path.
    Console mode goes through structlog."""

    def __init__(self, sink: _Sink, bound: dict[str, object]) -> None:
        self._sink = sink
        self._bound = bound

    def bind(self, **context: object) -> _RequestLogger:
        return _RequestLogger(self._sink, {**self._bound, **context})

    def info(self, event: str, **fields: object) -> None:
        sink = self._sink
        if not sink.enabled:
            return
        request_id = REQUEST_ID.get()
        if request_id is not None and "request_id" not in fields:
            fields["request_id"] = request_id
        if not sink.json_lines:
            sink.structlog.info(event, **self._bound, **fields)
            return
        bound = self._bound
        if sink.reserved.isdisjoint(fields) and sink.reserved.isdisjoint(bound):
            head = orjson.dumps({**bound, **fields} if bound else fields, default=repr)
            comma = b"," if len(head) > 2 else b""
            request_lines.add(b"%b%b%b%b\"}\n" % (head[:-1], comma, sink.tail(event), _stamp()))
            return
        line = {**bound, **fields, **sink.context, "event": event, "level": "info",
                "timestamp": datetime.now(UTC)}  # orjson renders it as structlog does
        request_lines.add(orjson.dumps(line, default=repr, option=_LINE))


_sink = _Sink()


def request_logger(name: str) -> _RequestLogger:
    """The logger for high-volume info lines (buffered; see _RequestLogger)."""
    return _RequestLogger(_sink, {})


def request_logging_enabled() -> bool:
    """Whether request lines are written at all (the level is info or finer)."""
    return _sink.enabled


def flush_logs() -> None:
    """Write out what is held: folded warnings (shared/log_throttle.py) and
    buffered request lines (call at shutdown; also run at exit)."""
    flush_throttles()
    request_lines.flush()


atexit.register(flush_logs)


def configure_logging(settings: LogSettings, *, cache: bool = True, buffered: bool = True,
                      stream: TextIO | None = None, **context: object) -> None:
    """Configure structlog and stdlib logging for this process. `context`
    (e.g. role="api", worker=2) is bound to every line. `cache=False` looks
    up sys.stdout at every call and `buffered=False` writes request lines at
    once (tests that capture output need both). `stream`: where lines go
    instead of stdout (the operator CLI, whose stdout is its answer; request
    lines are never written there)."""
    request_lines.flush()
    request_lines.delay = 0.1 if buffered else 0.0
    level = getattr(logging, settings.level.upper())
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_request_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = _renderer(settings.format)
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=cache,
    )
    structlog.contextvars.clear_contextvars()
    if context:
        structlog.contextvars.bind_contextvars(**context)
    _sink.json_lines = _format(settings.format) == "json"
    _sink.enabled = level <= logging.INFO
    _sink.set_context(context)

    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(level, logging.INFO) if level < logging.WARNING else level)
    # aiohttp's access log would duplicate our request line (and could show tokens in URLs).
    logging.getLogger("aiohttp.access").disabled = True


def get_logger(name: str | None = None, **context: object):
    return structlog.get_logger(name, **context)
