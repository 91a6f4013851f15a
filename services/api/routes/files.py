"""File metadata: POST /files, GET /files/:id, GET /files, PUT publish/unpublish."""

from __future__ import annotations

import contextlib
from typing import Any

from aiohttp import web

from shared.blob_store import BlobWriter
from shared.domain.folders import parent_of
from shared.domain.quotas import current_quota
from shared.domain.sniff import kind_of
from shared.errors import Invalid, NotFound
from shared.jobs import thumbnails_job
from shared.storage import FILE_TYPES, PAGE_SIZE, ROOT, NewFile, ParentId, is_root

from ..auth import current_user
from ..bodies import BodyReader
from ..json_upload import UploadBody, UploadScanner
from ..keys import BLOBS, ENQUEUER, SETTINGS, STORAGE
from ..metrics import record_upload
from ..views import file_view, json_response

routes = web.RouteTableDef()

MAX_NAME_LENGTH = 1024
_MAX_PAGE = 2**31 // PAGE_SIZE  # beyond this no backend can hold that many files


def _is_root_value(value: Any) -> bool:
    # As the original's `parentId || 0`: absent, null, "", 0 and "0" all mean the root.
    return value is None or value == "" or value is False or is_root(value)


async def _parent(request: web.Request, user_id: str, value: Any) -> ParentId:
    """The validated parent: ROOT, or the id of one of the user's folders."""
    return await parent_of(request.app[STORAGE], user_id, None if _is_root_value(value) else value)


@routes.post("/files")
async def create_file(request: web.Request) -> web.Response:
    """The body is streamed: `data` goes to a part file as it arrives (see
    json_upload.py), the contract's checks run once the body is in, and the
    part becomes the blob only when they all pass."""
    user = await current_user(request)  # the token first, before the body is looked at
    blobs = request.app[BLOBS]
    async with blobs.writer() as content:
        body = await _read_upload(request, content)
        members = body.members

        name = members.get("name")
        if name is None or name == "":
            raise Invalid("Missing name")
        file_type = members.get("type")
        if file_type not in FILE_TYPES:
            raise Invalid("Missing type")
        data = members.get("data")
        has_data = (body.data == "string" and not body.data_empty) or (
            body.data == "value" and data is not None and data != "")
        if file_type != "folder" and not has_data:
            raise Invalid("Missing data")
        parent_id = await _parent(request, user.id, members.get("parentId"))

        # Beyond the contract's checks: the types of what was given.
        if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH:
            raise Invalid(f"Invalid name: expected a string of at most {MAX_NAME_LENGTH} characters")
        is_public = members.get("isPublic", False)
        if is_public is None:
            is_public = False
        if not isinstance(is_public, bool):
            raise Invalid("Invalid isPublic: expected true or false")

        storage = request.app[STORAGE]
        if file_type == "folder":
            new = NewFile(user.id, name, file_type, is_public, parent_id, local_path=None)
            return json_response(file_view(await storage.create_file(new)), status=201)
        if body.data != "string":
            raise Invalid("Invalid data: expected a base64 string")
        if not body.data_is_base64:
            raise Invalid("Invalid data: not base64")
        local_path = await content.commit()

    # The type stays the client's (v1's contract); the media type comes from the bytes for an image.
    _, mime_type = kind_of(content.head, name)
    quota = await current_quota(storage, user.id, request.app[SETTINGS].storage.default_quota)
    record = None
    try:
        record = await storage.create_file(
            NewFile(user.id, name, file_type, is_public, parent_id, local_path,
                    size=content.size, sha256=content.sha256, mime_type=mime_type),
            quota,
        )
        if file_type == "image":
            await request.app[ENQUEUER].enqueue(thumbnails_job(record.id, user.id))
    except BaseException:
        # A failed request leaves nothing behind: no blob, no document.
        with contextlib.suppress(Exception):
            if record is not None:
                await storage.delete_file(user.id, record.id)
            await blobs.remove(local_path)
        raise
    return json_response(file_view(record), status=201)


async def _read_upload(request: web.Request, content: BlobWriter) -> UploadBody:
    scanner = UploadScanner()
    async with BodyReader(request, request.app[SETTINGS].server.max_body_size) as body:
        async for chunk in body:
            for piece in scanner.feed(chunk):
                record_upload(len(piece))
                await content.write(piece)
    return scanner.end()


@routes.get("/files/{id}")
async def show_file(request: web.Request) -> web.Response:
    user = await current_user(request)
    record = await request.app[STORAGE].file_of_user(user.id, request.match_info["id"])
    if record is None:
        raise NotFound()
    return json_response(file_view(record))


def _page(raw: str | None) -> int:
    """The page number: ASCII digits only (str.isdecimal would let other
    scripts' digits through); absent or empty is 0, as in the original."""
    if raw is None or raw == "":
        return 0
    if not (raw.isascii() and raw.isdigit()):
        raise Invalid("Invalid page: expected a whole number from 0")
    digits = raw.lstrip("0")
    if len(digits) > len(str(_MAX_PAGE)):
        return _MAX_PAGE + 1  # int() refuses past 4300 digits; any such page is empty
    return int(digits or "0")


@routes.get("/files")
async def list_files(request: web.Request) -> web.Response:
    user = await current_user(request)
    page = _page(request.query.get("page"))
    parent = request.query.get("parentId")
    parent_id: ParentId = ROOT if parent is None or parent == "" or is_root(parent) else parent
    if page > _MAX_PAGE:
        return json_response([])
    records = await request.app[STORAGE].children(user.id, parent_id, page)
    return json_response([file_view(r) for r in records])


async def _set_public(request: web.Request, is_public: bool) -> web.Response:
    user = await current_user(request)
    record = await request.app[STORAGE].set_public(user.id, request.match_info["id"], is_public)
    if record is None:
        raise NotFound()
    return json_response(file_view(record))


@routes.put("/files/{id}/publish")
async def publish(request: web.Request) -> web.Response:
    return await _set_public(request, True)


@routes.put("/files/{id}/unpublish")
async def unpublish(request: web.Request) -> web.Response:
    return await _set_public(request, False)
