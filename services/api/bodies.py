"""Reading request bodies: under the process's limits, with clear 4xx answers.

Every body is read chunk by chunk through `BodyReader`: its Content-Length is
checked against the size limit before anything is read (413), then reserved in
the process's in-flight budget (503 when over it); a client silent for
`server.body_timeout` seconds gets 408, and one that goes away mid-body a 400.
JSON is parsed with orjson, which refuses what Python's json lets through and
later breaks a handler: nesting past 1024 levels, lone surrogates (`"\\ud800"`)
and invalid UTF-8.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from shared.errors import Invalid

from .inflight import BODY_BUDGET, Reservation
from .keys import SETTINGS

# A JSON body other than an upload's (sign-up, a folder, later v2 metadata) is
# small; it is held whole, so it gets a small limit of its own.
JSON_BODY_LIMIT = 1024 * 1024
_INLINE_PARSE = 256 * 1024  # larger JSON is parsed in a thread


def too_large(limit: int, actual: int) -> web.HTTPRequestEntityTooLarge:
    return web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=actual)


class BodyReader:
    """`async with BodyReader(request, limit) as body: async for chunk in body`.

    `held`: for a body streamed to disk, the most of it held in memory at once
    (a write batch): that much is reserved in the budget, not its whole length."""

    def __init__(self, request: web.Request, limit: int, *, held: int | None = None) -> None:
        self._request = request
        self._limit = limit
        self._held = held
        self._timeout = request.app[SETTINGS].server.body_timeout
        self._reservation: Reservation | None = None
        self._announced = request.content_length
        self.received = 0

    async def __aenter__(self) -> BodyReader:
        announced = self._announced
        if announced is not None and announced > self._limit:
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

    def __aiter__(self) -> BodyReader:
        return self

    async def __anext__(self) -> bytes:
        try:
            async with asyncio.timeout(self._timeout):
                chunk = await self._request.content.readany()
        except TimeoutError:
            raise web.HTTPRequestTimeout(
                text=f"no body bytes for {self._timeout:g} s") from None
        except (ConnectionError, web.RequestPayloadError):
            raise Invalid("Incomplete request body: the connection broke mid-body") from None
        if not chunk:
            raise StopAsyncIteration
        self.received += len(chunk)
        if self.received > self._limit:
            raise too_large(self._limit, self.received)
        if self._announced is None:
            assert self._reservation is not None
            more = len(chunk) if self._held is None else min(len(chunk), self._held - self._reservation.size)
            if more > 0:
                self._reservation.grow(more)
        return chunk


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
