"""Public share links: GET/POST /s/<token>[/<fileId>] (api-v2.md, "Share links").

- A file link: its content with the safe-serving headers (Range, ETag, 304,
  `?download=1`, `?size=` for an image's thumbnail), or for a browser
  navigating to it (Accept prefers HTML) a small page with a preview and a
  download button.
- A folder link: its live items, one cursor page at a time, as JSON or as a
  page; each item at /s/<token>/<id>, subfolders browsable the same way.
  Nothing outside the folder is reachable (share_access.item_of).
- Downloads: every GET of a file's content counts, whatever its Range or
  validators (a resumed download is one more; a 304 too), atomically against
  `maxDownloads`: past it, 410. Pages, HEAD and thumbnails do not count (a
  thumbnail is a preview, at most 500 px wide).
- A password: 401 (a form for browsers) until POST /s/<token> with the right
  one sets the link's unlock cookie; wrong ones are limited as logins are,
  per (link, client address) and per address.

Errors are JSON (with `code`) as everywhere, or small pages for browsers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from aiohttp import web

from shared.domain.cursors import ListScope
from shared.domain.links import MAX_PASSWORD_LENGTH
from shared.errors import (
    DomainError,
    Gone,
    Invalid,
    NotFound,
    PasswordRequired,
    TooManyAttempts,
    WrongLinkPassword,
)
from shared.storage import FileRecord, Order, is_id, position_of

from ..accept import prefers_html
from ..blob_response import BlobResponse
from ..bodies import JSON_BODY_LIMIT, json_object, small_body
from ..client_address import client_address
from ..content_headers import content_headers, content_type_v2
from ..errors import response_for, status_of
from ..keys import CURSORS, LOGINS, PASSWORDS, SETTINGS, STORAGE
from ..link_views import share_url, shared_item_view
from ..list_params import limit_param, order_param, query_param
from ..serving import content_response, thumbnail_width, wants_download
from ..share_access import Shared, item_of, open_link, require_unlocked, set_unlocked
from ..share_pages import SHARE_HEADERS, Entry, error_page, file_page, folder_page, page_response, password_page
from ..views import file_views_v2, json_response

routes = web.RouteTableDef()

_FORM = "application/x-www-form-urlencoded"
FORM_LIMIT = 16 * 1024  # a 1,024-character password, percent-encoded, and then some
_SEE_OTHER, _NO_CONTENT = 303, 204


@routes.get("/s/{token}")
@routes.get("/s/{token}/{file_id}")
async def open_share(request: web.Request) -> web.StreamResponse:
    return await _answer(request, _show, request.match_info.get("file_id"))


@routes.post("/s/{token}")
@routes.post("/s/{token}/{file_id}")
async def unlock_share(request: web.Request) -> web.StreamResponse:
    """The password form of an item's page posts to the item's path: back to that item."""
    return await _answer(request, _unlock, request.match_info.get("file_id"))


Step = Callable[[web.Request, "str | None", bool], Awaitable[web.StreamResponse]]


async def _answer(request: web.Request, step: Step, file_id: str | None) -> web.StreamResponse:
    html = prefers_html(request.headers.get("Accept")) or (request.method == "POST" and request.content_type == _FORM)
    try:
        if file_id is not None and not is_id(file_id):
            raise NotFound()  # before anything: the path is then ours to repeat (form action, Location)
        return await step(request, file_id, html)
    except DomainError as exc:
        if html:
            return _error_page(request, exc)
        response = response_for(request, exc)  # the JSON error, with this route's headers
        response.headers.update(SHARE_HEADERS)
        return response


def _error_page(request: web.Request, exc: DomainError) -> web.Response:
    status, headers = status_of(request, exc)
    if isinstance(exc, PasswordRequired | TooManyAttempts):
        message = None
        if isinstance(exc, WrongLinkPassword):
            message = exc.message
        elif isinstance(exc, TooManyAttempts):
            message = f"Too many attempts: try again in {exc.retry_after} seconds."
        return page_response(request, password_page(request.path, message), status, headers)
    return page_response(request, error_page(exc.message, status), status, headers)


@dataclass(frozen=True, slots=True)
class _Query:
    """What GET /s/ takes, all checked whatever the link leads to (a file's
    `size` and `download`, a folder's `sort`, `limit` and `cursor`), so a
    request is refused or answered the same way for either."""

    width: int | None
    download: bool
    order: Order
    limit: int
    cursor: str | None
    sort: str | None  # as given, to carry over to the next page's URL
    limit_given: str | None

    @classmethod
    def of(cls, request: web.Request) -> _Query:
        return cls(thumbnail_width(request.query), wants_download(request.query), order_param(request),
                   limit_param(request), query_param(request, "cursor"), query_param(request, "sort"),
                   query_param(request, "limit"))


async def _show(request: web.Request, file_id: str | None, html: bool) -> web.StreamResponse:
    query = _Query.of(request)  # what was asked is checked first (400), then the link
    shared = await open_link(request)
    await require_unlocked(request, shared)
    record, folders = (shared.root, []) if file_id is None else await item_of(request, shared, file_id)
    if record.type == "folder":
        return await _folder(request, shared, record, folders, query, html)
    return await _file(request, shared, record, query, html)


async def _file(request: web.Request, shared: Shared, record: FileRecord, query: _Query,
                html: bool) -> web.StreamResponse:
    url = _url_of(shared, record)
    if html and query.width is None and not query.download:
        link = shared.link
        left = None if link.max_downloads is None else link.max_downloads - link.downloads
        preview = record.type == "image" and record.has_thumbnails
        size = (await file_views_v2([record]))[0]["size"]  # a legacy document's from its blob
        return page_response(request, file_page(record.name, size, url, preview, left))
    response = await content_response(request, record, query.width, {
        **content_headers(record.name, content_type_v2(record.name), download=query.download),
        **SHARE_HEADERS,
    })
    counted = query.width is None and request.method == "GET"
    if counted and not await request.app[STORAGE].count_download(shared.link.id):
        if isinstance(response, BlobResponse):
            await response.discard()
        raise Gone()
    return response


async def _folder(request: web.Request, shared: Shared, folder: FileRecord, folders: list[FileRecord],
                  query: _Query, html: bool) -> web.StreamResponse:
    """A page of the folder's live items (`limit`, `sort`, `cursor` as v2 lists)."""
    owner, order, limit = shared.link.user_id, query.order, query.limit
    # Cursors are bound to this link and folder: one made elsewhere is refused.
    scope = ListScope(owner, "share", f"{shared.link.id}/{folder.id}", order)
    cursors = request.app[CURSORS]
    after = None if query.cursor is None else await cursors.decode(scope, query.cursor)
    records = await request.app[STORAGE].list_files(owner, folder.id, order, limit + 1, after)
    items = records[:limit]
    next_cursor = await cursors.encode(scope, position_of(items[-1], order)) if len(records) > limit else None
    views = [shared_item_view(view, shared.token) for view in await file_views_v2(items)]
    path = [{"id": f.id, "name": f.name, "url": _url_of(shared, f)} for f in folders]
    if not html:
        return json_response({"id": folder.id, "name": folder.name, "path": path, "items": views,
                              "next": next_cursor}, headers=SHARE_HEADERS)
    entries = [Entry(v["name"], v["url"], v["type"] == "folder", v["size"], v["hasThumbnails"]) for v in views]
    next_url = None
    if next_cursor is not None:
        kept = {k: v for k, v in (("sort", query.sort), ("limit", query.limit_given)) if v is not None}
        next_url = f"{_url_of(shared, folder)}?{urlencode({**kept, 'cursor': next_cursor})}"
    crumbs = [(item["name"], item["url"]) for item in path]
    return page_response(request, folder_page(folder.name, crumbs, entries, next_url))


def _url_of(shared: Shared, record: FileRecord) -> str:
    return share_url(shared.token, None if record.id == shared.root.id else record.id)


async def _unlock(request: web.Request, file_id: str | None, html: bool) -> web.StreamResponse:
    # The body is checked first, whether or not the link has a password: same input, same answer.
    password = await _password_of(request)
    shared = await open_link(request)
    if shared.link.password_hash is not None:
        address = client_address(request, request.app[SETTINGS].server.trusted_proxies)
        # Counted before the hash is checked: a refused attempt (429) costs nothing.
        attempt = await request.app[LOGINS].attempt(f"share-link:{shared.link.id}", address)
        if not await request.app[PASSWORDS].verify(shared.link.password_hash, password):
            raise WrongLinkPassword()
        await attempt.succeeded()
    if html:
        # Back to the page the form was on (our own path: no open redirect).
        response = web.Response(status=_SEE_OTHER, headers={"Location": request.path, **SHARE_HEADERS})
    else:
        response = web.Response(status=_NO_CONTENT, headers=SHARE_HEADERS)
    if shared.link.password_hash is not None:
        await set_unlocked(request, response, shared)
    return response


async def _password_of(request: web.Request) -> str:
    """`password` from a form or a JSON body."""
    if request.content_type == _FORM:
        raw = await small_body(request, FORM_LIMIT)
        try:
            fields: dict[str, Any] = dict(parse_qsl(raw.decode("ascii"), keep_blank_values=True,
                                                    errors="strict", max_num_fields=16))
        except (UnicodeDecodeError, ValueError):
            raise Invalid("Invalid form body: not URL-encoded UTF-8") from None
    elif request.content_type in ("application/json", "application/octet-stream"):
        fields = await json_object(request, min(JSON_BODY_LIMIT, FORM_LIMIT))
    else:
        raise Invalid(f"Invalid body: send the password as {_FORM} or application/json")
    unknown = sorted(set(fields) - {"password"})
    if unknown:
        raise Invalid(f"Unknown field: {unknown[0]} (use password)")
    password = fields.get("password")
    if password is None or password == "":
        raise Invalid("Missing password")
    if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
        raise Invalid(f"Invalid password: a string of 1 to {MAX_PASSWORD_LENGTH} characters")
    return password

