"""Request bodies streamed to disk (v2 uploads): any size, little memory.

Unlike `BodyReader` (bodies.py), such a body is not capped by
server.max_body_size (v1's JSON limit) and is not reserved in the process's
in-flight budget by its length: it holds at most `STREAM_FOOTPRINT` bytes in
memory whatever its size (aiohttp's read buffer and one write batch), so
that is what it reserves. Its size is the upload's business
(storage.max_file_size, the user's quota: `UploadLimits`).

What stays the same: a client silent for server.body_timeout seconds gets
408, and one that goes away mid-body (or sends a body shorter than its
Content-Length) a 400 "Incomplete request body", once, wherever the read was.

`StreamedBody` is also the stream that aiohttp's MultipartReader reads from
(the four methods of aiohttp's StreamReader it uses, each under the body
timeout), and counts what the multipart framing takes beside the files.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Awaitable
from typing import TypeVar

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from shared.blobs import WRITE_BATCH
from shared.errors import Invalid

from .inflight import BODY_BUDGET, Reservation
from .keys import SETTINGS

T = TypeVar("T")

# What one streamed body holds in memory at most: aiohttp's buffer (its high
# water mark is 128 KiB), one write batch waiting for its thread, the chunk in hand.
STREAM_FOOTPRINT = 2 * WRITE_BATCH
# Bytes a multipart body may spend outside its files' contents: boundaries,
# part headers, the fields (parentId, isPublic) and any ignored part.
FRAMING_LIMIT = 64 * 1024
# What a file part is read by. aiohttp's part reader keeps one chunk back to
# find the next boundary and may read two more before giving one back, so
# framing is checked with that slack.
READ_CHUNK = 256 * 1024
FRAMING_SLACK = FRAMING_LIMIT + 4 * READ_CHUNK


def incomplete() -> Invalid:
    return Invalid("Incomplete request body: the connection broke mid-body")


class StreamedBody:
    """`async with StreamedBody(request) as body:` then `async for chunk in
    body` (a raw body), or MultipartReader(request.headers, body) (a form,
    whose file bytes the reader of the parts adds to `content_bytes`; more
    than FRAMING_LIMIT other bytes in a `form` is a 400)."""

    def __init__(self, request: web.Request, *, form: bool = False) -> None:
        self._request = request
        self._content = request.content
        self._timeout = request.app[SETTINGS].server.body_timeout
        self._reservation: Reservation | None = None
        self.consumed = 0  # bytes handed out (less those given back with unread_data)
        self.content_bytes = 0  # of them, the files' bytes (counted by the multipart caller)
        self._form = form

    async def __aenter__(self) -> StreamedBody:
        self._reservation = self._request.app[BODY_BUDGET].reserve(STREAM_FOOTPRINT)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._reservation is not None:
            self._reservation.release()
            self._reservation = None

    def __aiter__(self) -> StreamedBody:
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
        self.consumed -= len(data)
        with warnings.catch_warnings():  # deprecated for applications; aiohttp's multipart reader needs it
            warnings.simplefilter("ignore", DeprecationWarning)
            self._content.unread_data(data)

    @property
    def framing(self) -> int:
        """Bytes read so far that are not file content (with up to 2 chunks of read-ahead)."""
        return self.consumed - self.content_bytes

    def _count(self, data: bytes) -> bytes:
        self.consumed += len(data)
        if self._form and self.framing > FRAMING_SLACK:
            raise Invalid(f"Invalid multipart body: more than {FRAMING_LIMIT} bytes outside the files")
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
