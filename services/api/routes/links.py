"""Share links of a file, for its owner: POST/GET /v2/files/:id/links,
DELETE /v2/links/:id. The public side is shares.py."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from shared.domain import links as rules
from shared.errors import Invalid, NotFound

from ..auth import current_user
from ..bodies import json_object
from ..keys import PASSWORDS, SETTINGS, STORAGE
from ..link_views import link_view
from ..views import json_response

routes = web.RouteTableDef()
T = TypeVar("T")


FIELDS = ("expiresIn", "password", "maxDownloads")


def _checked(name: str, check: Callable[[Any], T], value: Any) -> T:
    try:
        return check(value)
    except ValueError as exc:
        raise Invalid(f"Invalid {name}: {exc}") from None


def _terms(body: dict[str, Any], default_expiry: int, max_expiry: int) -> rules.LinkTerms:
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise Invalid(f"Unknown field: {unknown[0]} (use {', '.join(FIELDS)})")
    return rules.LinkTerms(
        expires_in=_checked("expiresIn", lambda v: rules.expiry_seconds(v, default_expiry, max_expiry),
                            body.get("expiresIn")),
        password=_checked("password", rules.link_password, body.get("password")),
        max_downloads=_checked("maxDownloads", rules.max_downloads, body.get("maxDownloads")),
    )


@routes.post("/v2/files/{id}/links")
async def create_link(request: web.Request) -> web.Response:
    user = await current_user(request)
    settings = request.app[SETTINGS].links
    terms = _terms(await json_object(request), settings.default_expiry, settings.max_expiry)
    storage = request.app[STORAGE]
    record = await storage.file_of_user(user.id, request.match_info["id"])  # live only
    if record is None:
        raise NotFound()
    password_hash = None if terms.password is None else await request.app[PASSWORDS].hash(terms.password)
    token = rules.new_token()
    now = time.time()
    link = await storage.create_link(rules.new_link(user.id, record.id, token, terms, password_hash, now))
    return json_response(link_view(link, now, token=token), status=201)


@routes.get("/v2/files/{id}/links")
async def file_links(request: web.Request) -> web.Response:
    """All of them, revoked and expired too (newest first): a file has few. A
    trashed file's are not found, as the file is for every change: they come
    back with it."""
    user = await current_user(request)
    storage = request.app[STORAGE]
    record = await storage.file_of_user(user.id, request.match_info["id"])  # live only
    if record is None:
        raise NotFound()
    now = time.time()
    items = [link_view(link, now) for link in await storage.links_of_file(user.id, record.id)]
    return json_response({"items": items, "next": None})


@routes.delete("/v2/links/{id}")
async def revoke_link(request: web.Request) -> web.Response:
    user = await current_user(request)
    if not await request.app[STORAGE].revoke_link(user.id, request.match_info["id"], time.time()):
        raise NotFound()
    return web.Response(status=204)
