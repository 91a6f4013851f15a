"""Reading request bodies: under the process's limits, with clear 4xx answers.

Every body is read chunk by chunk through `BodyReader`: its Content-Length is
checked against the size limit before anything is read (413), then reserved in
the process's in-flight budget (503 when over it); a client silent for
`server.body_timeout` seconds gets 408, and one that goes away mid-body (or
sends less than its Content-Length) a 400 "Incomplete request body".

A body streamed to disk (`streamed=True`: v2 uploads, tus chunks) holds at
most `STREAM_FOOTPRINT` bytes in memory whatever its length, so that is all it
reserves; it is not held to server.max_body_size (v1's JSON limit) either:
its size is its caller's business (a tus chunk's `limit`, `UploadLimits`).
`BodyReader` is also the stream aiohttp's MultipartReader reads a form from
(the four methods of StreamReader it uses, each under the body timeout).

JSON is parsed with orjson, which refuses what Python's json lets through and
later breaks a handler: nesting past 1024 levels, lone surrogates (`"\\ud800"`)
and invalid UTF-8.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Awaitable
from typing import Any, Self, TypeVar

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from shared.blobs import WRITE_BATCH
from shared.errors import Invalid

from .inflight import BODY_BUDGET, Reservation
from .keys import SETTINGS

T = TypeVar("T")

# A JSON body other than an upload's (sign-up, a folder, later v2 metadata) is
# small; it is held whole, so it gets a small limit of its own.
JSON_BODY_LIMIT = 1024 * 1024
_INLINE_PARSE = 256 * 1024  # larger JSON is parsed in a thread
# What a body streamed to disk holds in memory at most: aiohttp's buffer (its
# high water mark is 128 KiB), one write batch waiting for its thread, the chunk in hand.
STREAM_FOOTPRINT = 2 * WRITE_BATCH


def too_large(limit: int, actual: int) -> web.HTTPRequestEntityTooLarge:
    return web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=actual)


def incomplete() -> Invalid:
    return Invalid("Incomplete request body: the connection broke mid-body")


class BodyReader:
    """`async with BodyReader(request, limit) as body: async for chunk in body`,
    or MultipartReader(request.headers, body). `limit`: the most bytes the body
    may have (None: no limit here); `streamed`: see the module's docstring."""

    def __init__(self, request: web.Request, limit: int | None, *, streamed: bool = False) -> None:
        self._request = request
        self._content = request.content
        self._limit = limit
        self._held = STREAM_FOOTPRINT if streamed else None
        self._timeout = request.app[SETTINGS].server.body_timeout
        self._reservation: Reservation | None = None
        self._announced = request.content_length
        self.received = 0  # bytes handed out (less those given back with unread_data)

    async def __aenter__(self) -> Self:
        announced = self._announced
        if announced is not None and self._limit is not None and announced > self._limit:
            raise too_large(self._limit, announced)
        reserved = announced or 0
        if self._held is not None:
            reserved = min(reserved, self._held)
        self._reservation = self._request.app[BODY_BUDGET].reserve(reserved)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._reservation is not None:
            self._reservation.release()
            self._reservation = None

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self.readany()
        if not chunk:
            raise StopAsyncIteration
        return chunk

    # --- the StreamReader interface MultipartReader uses ----------------------

    async def read(self, n: int = -1) -> bytes:
        return self._count(await self._timed(self._content.read(n)))

    async def readany(self) -> bytes:
        return self._count(await self._timed(self._content.readany()))

    async def readline(self, *, max_line_length: int | None = None) -> bytes:
        return self._count(await self._timed(self._content.readline(max_line_length=max_line_length)))

    def at_eof(self) -> bool:
        return self._content.at_eof()

    def unread_data(self, data: bytes) -> None:
        self.received -= len(data)
        with warnings.catch_warnings():  # deprecated for applications; aiohttp's multipart reader needs it
            warnings.simplefilter("ignore", DeprecationWarning)
            self._content.unread_data(data)

    def _count(self, data: bytes) -> bytes:
        self.received += len(data)
        if self._limit is not None and self.received > self._limit:
            raise too_large(self._limit, self.received)
        if self._announced is None and data:
            assert self._reservation is not None
            more = len(data) if self._held is None else min(len(data), self._held - self._reservation.size)
            if more > 0:
                self._reservation.grow(more)
        return data

    async def _timed(self, read: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self._timeout):
                return await read
        except TimeoutError:
            raise web.HTTPRequestTimeout(text=f"no body bytes for {self._timeout:g} s") from None
        except (ConnectionError, web.RequestPayloadError):
            raise incomplete() from None
        except HttpProcessingError as exc:  # a line too long, a bad chunked encoding
            raise Invalid(f"Invalid request body: {exc.message}") from None


def json_error(exc: orjson.JSONDecodeError) -> Invalid:
    """A clear 400 for a body orjson refused."""
    message = exc.msg
    if "not valid UTF-8" in message:  # orjson's words for any invalid byte
        return Invalid("Invalid JSON body: not UTF-8")
    if "surrogate" in message:
        return Invalid("Invalid JSON body: a string holds a lone surrogate (\\ud800-\\udfff), not a character")
    if "depth limit" in message:
        return Invalid("Invalid JSON body: nested more than 1024 levels deep")
    return Invalid(f"Invalid JSON body: {exc}")


def parse_json(raw: bytes | bytearray) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise json_error(exc) from None


async def small_body(request: web.Request, limit: int) -> bytes:
    """A body small enough to hold whole (at most `limit` bytes, else 413)."""
    parts = []
    async with BodyReader(request, limit) as body:
        async for chunk in body:
            parts.append(chunk)
    return b"".join(parts)


async def json_object(request: web.Request, limit: int = JSON_BODY_LIMIT) -> dict[str, Any]:
    """The body as a JSON object; an empty body counts as `{}` (every field missing)."""
    raw = await small_body(request, limit)
    if not raw.strip():
        return {}
    if len(raw) <= _INLINE_PARSE:
        value = parse_json(raw)
    else:
        value = await asyncio.to_thread(parse_json, raw)
    if not isinstance(value, dict):
        raise Invalid("Invalid JSON body: expected an object")
    return value
