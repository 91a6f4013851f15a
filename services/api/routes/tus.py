"""Resumable uploads: tus 1.0.0 at /v2/uploads (api-v2.md).

Core (HEAD, PATCH), OPTIONS discovery, and the extensions creation,
creation-with-upload, termination, expiration and checksum. Every request
needs the user's token; another user's upload, an unknown one and an expired
one are all 404. Every answer, errors included, carries Tus-Resumable
(`stamp_tus_headers`, run as the response is prepared).

How the bytes move (and what a broken chunk keeps) is tus_chunks.py's
business; the protocol's headers are tus_headers.py's; the rules (metadata,
limits, expiry) are shared/domain/uploads.py's.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from shared.domain.folders import parent_of
from shared.domain.quotas import current_quota
from shared.domain.uploads import (
    check_length,
    is_expired,
    metadata_of,
    new_upload,
    upload_meta,
)
from shared.errors import Conflict, NotFound
from shared.storage import Upload, User, is_id
from shared.upload_bytes import hold_for_removal, let_go, placed, remove_upload_bytes, writer_free
from shared.upload_parts import RunningHashes

from ..auth import current_user
from ..keys import BLOBS, REDIS, RUNNING_HASHES, SETTINGS, STORAGE
from ..tus_chunks import Received, complete, receive
from ..tus_headers import (
    FILE_ID,
    TUS_RESUMABLE,
    TUS_VERSION,
    UPLOAD_EXPIRES,
    UPLOAD_LENGTH,
    UPLOAD_METADATA,
    UPLOAD_OFFSET,
    check_chunk_type,
    check_version,
    discovery_headers,
    encode_metadata,
    has_body,
    http_date,
    method_of,
    parse_checksum,
    parse_metadata,
    uint_header,
    upload_length,
)

routes = web.RouteTableDef()

BASE = "/v2/uploads"
UPLOAD = BASE + "/{upload_id}"


def upload_url(upload_id: str) -> str:
    return f"{BASE}/{upload_id}"


def install(app: web.Application) -> None:
    """What the tus routes need beyond their routes: this process's running
    hashes, and the protocol's headers on every answer."""
    app[RUNNING_HASHES] = RunningHashes()
    app.on_response_prepare.append(stamp_tus_headers)


async def stamp_tus_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: Tus-Resumable on every answer under /v2/uploads
    (aiohttp's own 405s and the error middleware's answers too), and the
    versions we speak on a 412."""
    path = request.path
    if path == BASE or path.startswith(BASE + "/"):
        response.headers[TUS_RESUMABLE] = TUS_VERSION
        if response.status == 412:
            response.headers["Tus-Version"] = TUS_VERSION


@routes.options(BASE)
@routes.options(UPLOAD)
async def discover(request: web.Request) -> web.Response:
    """No Tus-Resumable needed (the protocol says the server ignores it here)."""
    await current_user(request)
    return web.Response(status=204, headers=discovery_headers(request.app[SETTINGS].storage.max_file_size))


@routes.post(BASE)
async def create(request: web.Request) -> web.Response:
    """Creation, and creation-with-upload when the body carries a first chunk."""
    check_version(request)
    user = await current_user(request)
    settings = request.app[SETTINGS]
    length = upload_length(request)
    check_length(length, settings.storage.max_file_size)  # 413 before the quota's 507
    meta = upload_meta(parse_metadata(request))
    with_chunk = has_body(request)
    checksum = None
    if with_chunk:
        check_chunk_type(request)
        checksum = parse_checksum(request)
    storage = request.app[STORAGE]
    parent_id = await parent_of(storage, user.id, meta.parent_value)
    upload = placed(request.app[BLOBS], new_upload(user.id, length, meta, parent_id, settings.storage.folder_path,
                                                   time.time(), settings.uploads.expiry))
    upload = await storage.create_upload(upload, await current_quota(storage, user.id, settings.storage.default_quota))
    try:
        offset, file_id = 0, None
        if with_chunk:
            # Nobody knows this upload's URL until we answer: a broken body keeps nothing.
            received = await receive(request, upload, checksum, keep_partial=False)
            offset, file_id = received.offset, received.file_id
        elif length == 0:
            file_id = await complete(request, upload, None)
    except BaseException:
        await asyncio.shield(asyncio.ensure_future(_forget(request, user, upload)))
        raise
    return _answer(201, upload, file_id, {"Location": upload_url(upload.id), UPLOAD_OFFSET: str(offset)})


@routes.head(UPLOAD)
async def head(request: web.Request) -> web.Response:
    check_version(request)
    user = await current_user(request)
    upload = await _upload_of(request, user)
    file_id = upload.file_id
    if file_id is None and upload.offset == upload.length and await writer_free(request.app[REDIS], upload):
        # Complete but unfinished: the request that completed it died before
        # the file was made. Finish it now, so a client resuming learns the file.
        file_id = await complete(request, upload, None)
    return _answer(200, upload, file_id, {
        UPLOAD_OFFSET: str(upload.offset),
        UPLOAD_LENGTH: str(upload.length),
        UPLOAD_METADATA: encode_metadata(metadata_of(upload)),
        "Cache-Control": "no-store",
    })


@routes.patch(UPLOAD)
async def patch(request: web.Request) -> web.Response:
    check_version(request)
    user = await current_user(request)
    check_chunk_type(request)
    offset = uint_header(request, UPLOAD_OFFSET)
    checksum = parse_checksum(request)
    upload = await _upload_of(request, user)
    if offset != upload.offset:
        raise Conflict(f"Upload-Offset {offset} is not the upload's offset {upload.offset}")
    if upload.offset == upload.length:
        # Nothing left to send: a retried last PATCH learns the same file again.
        received = Received(upload.offset, await complete(request, upload, None))
    else:
        received = await receive(request, upload, checksum, keep_partial=True)
    return _answer(204, upload, received.file_id, {UPLOAD_OFFSET: str(received.offset)})


@routes.delete(UPLOAD)
async def terminate(request: web.Request) -> web.Response:
    """Termination: the upload and its bytes go; a finished upload's file stays."""
    check_version(request)
    user = await current_user(request)
    upload = await _upload_of(request, user)
    # Not while a chunk is being written (409): the lock is held until the part is gone.
    held = await hold_for_removal(request.app[REDIS], upload)
    try:
        await _forget(request, user, upload)
    finally:
        await let_go(held)
    return web.Response(status=204)


@routes.post(UPLOAD)
async def overridden(request: web.Request) -> web.StreamResponse:
    """X-HTTP-Method-Override (tus core), for clients that cannot send PATCH or DELETE."""
    method = method_of(request)
    if method == "PATCH":
        return await patch(request)
    if method == "DELETE":
        return await terminate(request)
    raise web.HTTPMethodNotAllowed(method, ["OPTIONS", "HEAD", "PATCH", "DELETE"])


async def _upload_of(request: web.Request, user: User) -> Upload:
    upload_id = request.match_info["upload_id"]
    upload = await request.app[STORAGE].upload_of_user(user.id, upload_id) if is_id(upload_id) else None
    if upload is None or (upload.file_id is None and is_expired(upload, time.time())):
        raise NotFound("Upload not found")
    return upload


async def _forget(request: web.Request, user: User, upload: Upload) -> None:
    """The upload's record, then its part (the record first: a part without a
    record is only disk space, a record without its part a broken upload)."""
    await request.app[STORAGE].delete_upload(user.id, upload.id)
    request.app[RUNNING_HASHES].forget(upload.id)
    if upload.file_id is None:
        await remove_upload_bytes(request.app[BLOBS], upload.part_path)


def _answer(status: int, upload: Upload, file_id: str | None, headers: dict[str, str]) -> web.Response:
    """An answer about `upload`, with its file once there is one, else when it expires."""
    if file_id is not None:
        headers[FILE_ID] = file_id
    else:
        headers[UPLOAD_EXPIRES] = http_date(upload.expires_at)
    return web.Response(status=status, headers=headers)
