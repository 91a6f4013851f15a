"""v2 content: POST /v2/files (a folder as JSON, files as multipart), PUT and GET /v2/files/:id/content.

Uploads are streamed to disk (bodies.py, upload_form.py), hashed on
the way, held to storage.max_file_size and the user's quota as the bytes
arrive; documents are written only once every blob is durable, and a
request that fails leaves no blob, no document and no bytes counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time

from aiohttp import web

from shared.blob_store import BlobStore
from shared.domain.folders import parent_of
from shared.domain.names import valid_name
from shared.domain.quotas import UploadLimits, effective_quota, room_left
from shared.domain.sniff import content_type_for
from shared.errors import Invalid, NotFound
from shared.jobs import thumbnails_job
from shared.storage import FileRecord, NewContent, NewFile, ParentId, Storage, User

from ..auth import current_user, optional_user
from ..bodies import BodyReader, json_object
from ..content_headers import content_headers, content_type_v2
from ..keys import BLOBS, ENQUEUER, SETTINGS, STORAGE
from ..serving import content_response, require_content, thumbnail_width, wants_download
from ..upload_form import FRAMING_SLACK, FormBody, UploadForm, read_form, store_file
from ..views import file_view_v2, json_response

routes = web.RouteTableDef()

FOLDER_FIELDS = ("name", "type", "parentId", "isPublic")


@routes.post("/v2/files")
async def create_file(request: web.Request) -> web.Response:
    user = await current_user(request)
    if request.content_type == "multipart/form-data":
        return await _upload(request, user)
    if request.content_type == "application/json" or "Content-Type" not in request.headers:
        return await _create_folder(request, user)
    raise web.HTTPUnsupportedMediaType(text="use application/json (a folder) or multipart/form-data (files)")


async def _create_folder(request: web.Request, user: User) -> web.Response:
    body = await json_object(request)
    unknown = sorted(set(body) - set(FOLDER_FIELDS))
    if unknown:
        raise Invalid(f"Unknown field: {unknown[0]} (use {', '.join(FOLDER_FIELDS)})")
    if body.get("type") != "folder":
        raise Invalid("Invalid type: only a folder is created from JSON; upload files as multipart/form-data")
    name = valid_name(body.get("name"))
    is_public = body.get("isPublic", False)
    if not isinstance(is_public, bool):
        raise Invalid("Invalid isPublic: expected true or false")
    parent_id = await parent_of(request.app[STORAGE], user.id, body.get("parentId"))
    new = NewFile(user.id, name, "folder", is_public, parent_id, local_path=None, size=0)
    record = await request.app[STORAGE].create_file(new)  # a folder takes no room: no quota
    return json_response(file_view_v2(record), status=201)


async def _limits(request: web.Request, user: User, replacing: int = 0) -> tuple[UploadLimits, int | None]:
    """The limits of an upload by `user` (whose file of `replacing` bytes it
    replaces), and the quota the storage enforces."""
    storage_settings = request.app[SETTINGS].storage
    usage = await request.app[STORAGE].usage(user.id)
    room = room_left(usage, storage_settings.default_quota)
    limits = UploadLimits(storage_settings.max_file_size, None if room is None else room + replacing)
    return limits, effective_quota(usage.quota_bytes, storage_settings.default_quota)


async def _upload(request: web.Request, user: User) -> web.Response:
    storage = request.app[STORAGE]
    blobs = request.app[BLOBS]
    limits, quota = await _limits(request, user)
    if request.content_length is not None:
        limits.announce_form(request.content_length, FRAMING_SLACK)

    async def check_parent(value: str | None) -> ParentId:
        return await parent_of(storage, user.id, value or None)

    async with FormBody(request) as body:
        form = await read_form(request.headers, body, limits, blobs, check_parent)
    records = await _store_all(request, user, form, quota)
    return json_response({"items": [file_view_v2(record) for record in records]}, status=201)


async def _store_all(request: web.Request, user: User, form: UploadForm, quota: int | None) -> list[FileRecord]:
    """A document per file, each counted against the quota, then the
    images' thumbnails jobs: all of them, or (on any failure) none."""
    storage = request.app[STORAGE]
    records: list[FileRecord] = []
    try:
        for stored in form.files:
            new = NewFile(user.id, stored.name, stored.kind, form.is_public, form.parent_id, stored.local_path,
                          size=stored.size, sha256=stored.sha256, mime_type=stored.mime_type)
            records.append(await storage.create_file(new, quota))
        for record in records:
            if record.type == "image":
                await request.app[ENQUEUER].enqueue(thumbnails_job(record.id, user.id))
    except BaseException:
        for record in records:
            with contextlib.suppress(Exception):
                await storage.delete_file(user.id, record.id)
        await _remove_all(request.app[BLOBS], [stored.local_path for stored in form.files])
        raise
    return records


async def _remove_all(blobs: BlobStore, paths: list[str]) -> None:
    for path in paths:
        with contextlib.suppress(Exception):
            await blobs.remove(path)


@routes.put("/v2/files/{id}/content")
async def replace_content(request: web.Request) -> web.Response:
    user = await current_user(request)
    storage = request.app[STORAGE]
    blobs = request.app[BLOBS]
    old = await storage.file_of_user(user.id, request.match_info["id"])
    if old is None:
        raise NotFound()
    if old.type == "folder":
        raise Invalid("A folder doesn't have content")
    limits, quota = await _limits(request, user, replacing=old.size or 0)
    if request.content_length is not None:
        limits.announce(request.content_length)
    async with BodyReader(request, None, streamed=True) as body:
        stored = await store_file(old.name, body, limits, blobs)
    content = NewContent(stored.local_path, stored.size, stored.sha256, stored.mime_type, stored.kind)
    try:
        record, old_path = await storage.replace_content(user.id, old.id, content, quota, now=time.time())
    except BaseException:
        await _remove_all(blobs, [stored.local_path])
        raise
    try:
        if stored.kind == "image":
            await request.app[ENQUEUER].enqueue(thumbnails_job(record.id, user.id))
    except BaseException:
        with contextlib.suppress(Exception):
            await _put_back(storage, old)
        await _remove_all(blobs, [stored.local_path])
        raise
    if old_path:
        await _remove_all(blobs, [old_path])  # with its thumbnails
    return json_response(file_view_v2(record))


async def _put_back(storage: Storage, old: FileRecord) -> None:
    """Undo a replace_content whose follow-up failed: the file points at its
    old blob again (a document written by the original gets its size and
    hash on the way)."""
    assert old.local_path is not None
    size = old.size if old.size is not None else await asyncio.to_thread(os.path.getsize, old.local_path)
    sha256 = old.sha256 if old.sha256 is not None else await asyncio.to_thread(_sha256_of, old.local_path)
    content = NewContent(old.local_path, size, sha256, old.mime_type or content_type_for(old.name), old.type)
    await storage.replace_content(old.user_id, old.id, content, None, now=time.time())
    if old.has_thumbnails:
        await storage.set_thumbnails(old.id, old.local_path)


def _sha256_of(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


@routes.get("/v2/files/{id}/content")
async def file_content(request: web.Request) -> web.StreamResponse:
    """As v1's /files/:id/data (the same checks, in the same order, and
    serving.py's answer): the owner's file, or anyone's public one; text
    types with their charset."""
    user = await optional_user(request)
    record = await request.app[STORAGE].file_readable_by(user.id if user else None, request.match_info["id"])
    if record is None:
        raise NotFound()
    require_content(record)
    width, download = thumbnail_width(request.query), wants_download(request.query)
    return await content_response(request, record, width, {
        **content_headers(record.name, content_type_v2(record.name), download=download),
        "Cache-Control": "public, max-age=0" if record.is_public else "private, max-age=0",
    })
