"""v2 files: lists and search, one file with its path, rename/move/publish,
trash, restore, purge (api-v2.md, Files). Creating files and their content
are v2_upload.py's.

Trashed items are absent from lists and search, but `GET /v2/files/:id`
answers for them too (with `trashedAt` set and their `path` as it was), so a
client can show what is in the trash; every change but restore and a
permanent delete answers 404 for them, as for any file not found.

A permanent delete removes the documents at once and leaves the blobs to a
purge job (the worker's); if that job cannot be enqueued, the delete is still
done (it cannot be undone) and the orphan sweep removes the blobs later."""

from __future__ import annotations

import time
import unicodedata
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from shared.domain.cursors import ListScope
from shared.domain.names import MAX_NAME_BYTES, valid_name
from shared.errors import Invalid, NotFound
from shared.jobs import purge_jobs
from shared.logging import get_logger
from shared.storage import NOT_A_FOLDER, PARENT_NOT_FOUND, ROOT, FileRecord, ParentId, User, is_id, position_of

from ..auth import current_user
from ..bodies import json_object
from ..keys import CURSORS, ENQUEUER, STORAGE
from ..list_params import limit_param, order_param, query_param
from ..request_route import route_of
from ..views import file_views_v2, json_response, path_view

routes = web.RouteTableDef()
log = get_logger("api")

PATCH_FIELDS = ("name", "parentId", "isPublic")
PERMANENT_VALUES = {"true": True, "1": True, "false": False, "0": False}
_NO_CONTENT = 204


def _file_id(request: web.Request) -> str:
    """The path's id; a malformed one is simply not found."""
    file_id = request.match_info["id"]
    if not is_id(file_id):
        raise NotFound()
    return file_id


async def _page(records: list[FileRecord], limit: int, next_cursor: Any) -> web.Response:
    """`limit + 1` records asked for: the extra one says whether a next page exists."""
    items = records[:limit]
    cursor = await next_cursor(items[-1]) if len(records) > limit else None
    return json_response({"items": await file_views_v2(items), "next": cursor})


@routes.get("/v2/files")
async def list_files(request: web.Request) -> web.Response:
    user = await current_user(request)
    parent = query_param(request, "parentId")
    text = query_param(request, "q")
    order = order_param(request)
    limit = limit_param(request)
    cursor = query_param(request, "cursor")
    cursors = request.app[CURSORS]
    storage = request.app[STORAGE]
    if text is not None:
        if parent is not None:
            raise Invalid("Invalid query: give parentId or q, not both")
        text = unicodedata.normalize("NFC", text)  # as names are stored
        scope = ListScope(user.id, "search", text, order)
        after = None if cursor is None else await cursors.decode(scope, cursor)
        records = []
        if len(text.encode("utf-8", "surrogatepass")) <= MAX_NAME_BYTES:  # else no name holds it
            records = await storage.search_files(user.id, text, order, limit + 1, after)
    else:
        if parent is not None and parent != "0" and not is_id(parent):
            raise Invalid("Invalid parentId: expected 0 or a folder id")
        scope = ListScope(user.id, "folder", parent or "0", order)
        after = None if cursor is None else await cursors.decode(scope, cursor)
        parent_id = await _listed_folder(request, user, parent)
        records = await storage.list_files(user.id, parent_id, order, limit + 1, after)

    async def next_cursor(last: FileRecord) -> str:
        return await cursors.encode(scope, position_of(last, order))

    return await _page(records, limit, next_cursor)


async def _listed_folder(request: web.Request, user: User, parent: str | None) -> ParentId:
    if parent is None or parent == "0":
        return ROOT
    folder = await request.app[STORAGE].file_of_user(user.id, parent)  # live items only
    if folder is None:
        raise NotFound()
    if folder.type != "folder":
        raise Invalid(NOT_A_FOLDER)
    return folder.id


@routes.get("/v2/files/{id}")
async def show_file(request: web.Request) -> web.Response:
    user = await current_user(request)
    storage = request.app[STORAGE]
    record = await storage.file_with_trashed(user.id, _file_id(request))
    if record is None:
        raise NotFound()
    ancestors = await storage.ancestors(user.id, record.id)
    document = (await file_views_v2([record]))[0]
    document["path"] = path_view(ancestors)
    return json_response(document)


@routes.patch("/v2/files/{id}")
async def update_file(request: web.Request) -> web.Response:
    user = await current_user(request)
    file_id = _file_id(request)
    body = await json_object(request)
    unknown = sorted(set(body) - set(PATCH_FIELDS))
    if unknown:
        raise Invalid(f"Unknown field: {unknown[0]} (use {', '.join(PATCH_FIELDS)})")
    if not body:
        raise Invalid(f"Nothing to update: give {', '.join(PATCH_FIELDS)}")
    changes: dict[str, Any] = {}
    if "name" in body:
        changes["name"] = valid_name(body["name"])
    if "parentId" in body:
        changes["parent_id"] = _target_parent(body["parentId"])
    if "isPublic" in body:
        if not isinstance(body["isPublic"], bool):
            raise Invalid("Invalid isPublic: expected true or false")
        changes["is_public"] = body["isPublic"]
    record = await request.app[STORAGE].update_file(user.id, file_id, now=time.time(), **changes)
    return json_response((await file_views_v2([record]))[0])


def _target_parent(value: object) -> ParentId:
    if (value == 0 and type(value) is int) or value == "0":
        return ROOT
    if not isinstance(value, str):
        raise Invalid("Invalid parentId: expected 0 or a folder id")
    if not is_id(value):
        raise Invalid(PARENT_NOT_FOUND)
    return value


@routes.delete("/v2/files/{id}")
async def delete_file(request: web.Request) -> web.Response:
    user = await current_user(request)
    file_id = _file_id(request)
    raw = query_param(request, "permanent")
    permanent = PERMANENT_VALUES.get(raw or "false")
    if permanent is None:
        raise Invalid("Invalid permanent: use true or false")
    storage = request.app[STORAGE]
    if permanent:
        await _remove_blobs(request, await storage.purge_file(user.id, file_id))
    else:
        await storage.trash_file(user.id, file_id, now=time.time())
    return web.Response(status=_NO_CONTENT)


@routes.post("/v2/files/{id}/restore")
async def restore_file(request: web.Request) -> web.Response:
    user = await current_user(request)
    record = await request.app[STORAGE].restore_file(user.id, _file_id(request), now=time.time())
    return json_response((await file_views_v2([record]))[0])


@routes.get("/v2/trash")
async def list_trash(request: web.Request) -> web.Response:
    user = await current_user(request)
    limit = limit_param(request)
    cursor = query_param(request, "cursor")
    cursors = request.app[CURSORS]
    scope = ListScope(user.id, "trash")
    after = None if cursor is None else await cursors.decode_trash(scope, cursor)
    records = await request.app[STORAGE].trashed_files(user.id, limit + 1, after)

    async def next_cursor(last: FileRecord) -> str:
        assert last.trashed_at is not None
        return await cursors.encode_trash(scope, (last.trashed_at, last.id))

    return await _page(records, limit, next_cursor)


@routes.delete("/v2/trash")
async def empty_trash(request: web.Request) -> web.Response:
    user = await current_user(request)
    await _remove_blobs(request, await request.app[STORAGE].purge_trash(user.id))
    return web.Response(status=_NO_CONTENT)


async def _remove_blobs(request: web.Request, local_paths: list[str]) -> None:
    """Enqueue the purge jobs of documents already deleted. Not enqueued is
    not a failed request: the deletion stands, the orphan sweep takes the blobs."""
    jobs = purge_jobs(local_paths)
    try:
        for job in jobs:
            await request.app[ENQUEUER].enqueue(job)
    except (RedisError, OSError) as exc:
        log.warning("purge.not_enqueued", blobs=sum(len(j.payload["blobs"]) for j in jobs),
                    error=f"{type(exc).__name__}: {exc}", route=route_of(request))
