"""A v2 upload form (`multipart/form-data`), taken in as it arrives.

The fields `parentId` and `isPublic` come first (both optional), then one or
more parts named `file`, each with its filename. Each file goes straight to
its own blob (`store_file`, which also takes a PUT's body: hashed on the way,
never held whole in memory) and is held to `UploadLimits` as its bytes
arrive. The parent is
checked before the first file's first byte is written, the name before its
own. A part with another name is refused, and everything outside the
files' bytes may take only so much (FRAMING_LIMIT).

A form that fails anywhere (bad input, a limit, a client gone, a cancelled
request) leaves no blob: the file in progress is aborted and those already
committed are removed.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.streams import StreamReader

from shared.blob_store import BlobStore
from shared.domain.names import valid_name
from shared.domain.quotas import UploadLimits
from shared.domain.sniff import Kind, kind_of
from shared.errors import Invalid
from shared.storage import ParentId

from .bodies import BodyReader
from .form_parts import FormReader
from .metrics import record_upload

T = TypeVar("T")

FILE_FIELD = "file"
FORM_FIELDS = ("parentId", "isPublic", FILE_FIELD)
FIELD_LIMIT = 1024  # bytes of a field's value (parentId, isPublic)
PUBLIC_VALUES = {"true": True, "1": True, "false": False, "0": False}
# Content-Transfer-Encodings that leave the bytes as they are (RFC 7578 drops the header altogether).
_IDENTITY_ENCODINGS = frozenset({"", "binary", "8bit", "7bit"})
# Bytes a multipart body may spend outside its files' contents: boundaries,
# part headers, the fields (parentId, isPublic) and any ignored part.
FRAMING_LIMIT = 64 * 1024
# What a file part is read by. aiohttp's part reader keeps one chunk back to
# find the next boundary and may read two more before giving one back, so
# framing is checked with that slack.
READ_CHUNK = 256 * 1024
FRAMING_SLACK = FRAMING_LIMIT + 4 * READ_CHUNK


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file of the form, its blob durable, its document not written yet."""

    name: str
    local_path: str
    size: int
    sha256: str
    kind: Kind
    mime_type: str


@dataclass(frozen=True, slots=True)
class UploadForm:
    parent_id: ParentId
    is_public: bool
    files: list[StoredFile]


def invalid_form(reason: str) -> Invalid:
    return Invalid(f"Invalid multipart body: {reason}")


class FormBody(BodyReader):
    """A form's body, streamed: the reader of the parts adds the files' bytes
    to `content_bytes`; more than FRAMING_LIMIT other bytes is a 400."""

    def __init__(self, request: web.Request) -> None:
        super().__init__(request, None, streamed=True)
        self.content_bytes = 0

    def _count(self, data: bytes) -> bytes:
        data = super()._count(data)
        if self.received - self.content_bytes > FRAMING_SLACK:  # with up to 2 chunks of read-ahead
            raise invalid_form(f"more than {FRAMING_LIMIT} bytes outside the files")
        return data


class _FormReader:
    def __init__(self, body: FormBody, limits: UploadLimits, blobs: BlobStore,
                 check_parent: Callable[[str | None], Awaitable[ParentId]]) -> None:
        self.body = body
        self.limits = limits
        self.blobs = blobs
        self.check_parent = check_parent
        self.parent_value: str | None = None
        self.is_public = False
        self.parent_id: ParentId | None = None
        self.files: list[StoredFile] = []

    async def read(self, reader: MultipartReader) -> UploadForm:
        while (part := await _parsing(reader.next())) is not None:
            if not isinstance(part, BodyPartReader):
                raise invalid_form("a part may not be multipart itself")
            if part.name == FILE_FIELD:
                await self._file(part)
            elif part.name in ("parentId", "isPublic"):
                if self.files:
                    raise invalid_form("parentId and isPublic come before the files")
                await self._field(part)
            else:
                name = (part.name or "").encode("utf-8", "backslashreplace").decode()  # header bytes, as they came
                raise Invalid(f"Unknown field: {name} (use {', '.join(FORM_FIELDS)})")
        if not self.files:
            raise Invalid("Missing file")
        assert self.parent_id is not None
        return UploadForm(self.parent_id, self.is_public, self.files)

    async def _field(self, part: BodyPartReader) -> None:
        raw = bytearray()
        while not part.at_eof():
            raw += await _parsing(part.read_chunk(READ_CHUNK))
            if len(raw) > FIELD_LIMIT:
                raise invalid_form(f"the field {part.name} is longer than {FIELD_LIMIT} bytes")
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid(f"Invalid {part.name}: not UTF-8") from None
        if part.name == "parentId":
            self.parent_value = value
        else:
            is_public = PUBLIC_VALUES.get(value)
            if is_public is None:
                raise Invalid("Invalid isPublic: expected true or false")
            self.is_public = is_public

    async def _file(self, part: BodyPartReader) -> None:
        if self.parent_id is None:
            self.parent_id = await self.check_parent(self.parent_value)
        filename = part.filename
        if filename is None:
            raise Invalid("Missing filename")
        name = valid_name(filename)
        encoding = part.headers.get("Content-Transfer-Encoding", "").strip().lower()
        if encoding not in _IDENTITY_ENCODINGS or part.headers.get("Content-Encoding", "identity") != "identity":
            raise invalid_form("a file part must be sent as is (no Content-Transfer-Encoding or Content-Encoding)")
        self.files.append(await store_file(name, self._content(part), self.limits, self.blobs))

    async def _content(self, part: BodyPartReader) -> AsyncIterator[bytes]:
        while not part.at_eof():
            chunk = await _parsing(part.read_chunk(READ_CHUNK))
            self.body.content_bytes += len(chunk)
            yield chunk

    async def remove_stored(self) -> None:
        for stored in self.files:
            with contextlib.suppress(Exception):
                await self.blobs.remove(stored.local_path)
        self.files = []


async def store_file(name: str, content: AsyncIterable[bytes], limits: UploadLimits, blobs: BlobStore) -> StoredFile:
    """A file's bytes (a form's part, a PUT's body) to a new blob, held to
    `limits` as they arrive; its type from its first bytes. The blob is
    durable on return, and gone if anything failed."""
    limits.start_file()
    async with blobs.writer() as writer:
        async for chunk in content:
            record_upload(len(chunk))
            if limits.add(len(chunk)):
                await writer.write(chunk)
            else:
                await writer.abort()  # over the quota: read on only to know whether it is too large as well
        limits.end_file()
        await writer.commit()
    kind, mime_type = kind_of(writer.head, name)
    return StoredFile(name, writer.path, writer.size, writer.sha256, kind, mime_type)


async def _parsing(step: Awaitable[T]) -> T:
    """aiohttp's multipart parser says what is wrong with a body with
    ValueError, RuntimeError or HttpProcessingError: a 400 here."""
    try:
        return await step
    except HttpProcessingError as exc:
        raise invalid_form(exc.message) from None
    except (ValueError, RuntimeError, AssertionError) as exc:
        raise invalid_form(str(exc) or type(exc).__name__) from None


async def read_form(headers: Any, body: FormBody, limits: UploadLimits, blobs: BlobStore,
                    check_parent: Callable[[str | None], Awaitable[ParentId]]) -> UploadForm:
    """The form's fields and its files, stored as blobs (see the module's docstring).
    `check_parent(value)` turns the parentId field (None when absent) into a parent, or raises."""
    try:
        # BodyReader has the four methods of StreamReader the reader uses.
        reader = FormReader(headers, cast(StreamReader, body))
    except (ValueError, AssertionError) as exc:
        raise invalid_form(str(exc)) from None
    form = _FormReader(body, limits, blobs, check_parent)
    try:
        return await form.read(reader)
    except BaseException:
        await form.remove_stored()
        raise
