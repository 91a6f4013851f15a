"""The web app: the page at `/` and its assets under `/ui/<version>/`
(services/api/ui_assets.py says how they are versioned).

The page and the assets carry a Content-Security-Policy that runs only this
origin's scripts (none inline), talks only to this origin, and lets no DOM
sink take a string (Trusted Types): content that users upload is served from
the same origin, so nothing in it may ever be able to script the app.

Text assets are gzipped once at start-up and sent so to a client whose
Accept-Encoding takes gzip; each encoding has its own ETag, and a 304 answers
an If-None-Match (aiohttp's parsing: a list, `*`, weak tags) that names the
one that would be sent. HEAD gets the same headers, Content-Length included.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.helpers import ETAG_ANY, ETag

from shared.errors import NotFound

from ..accept import accepts_coding
from ..keys import UI_ASSETS
from ..ui_assets import Asset

routes = web.RouteTableDef()

UI_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
          "media-src 'self' blob:; connect-src 'self'; font-src 'self'; manifest-src 'self'; "
          "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; require-trusted-types-for 'script'")
SECURITY_HEADERS = {
    "Content-Security-Policy": UI_CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
PAGE_HEADERS = {**SECURITY_HEADERS, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
ASSET_HEADERS = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=31536000, immutable", "Vary": "Accept-Encoding"}


def _matches(tags: tuple[ETag, ...] | None, etag: str) -> bool:
    """If-None-Match's weak comparison: `*`, or a tag equal to `etag` whether marked W/ or not."""
    return tags is not None and any(tag.value == ETAG_ANY or f'"{tag.value}"' == etag for tag in tags)


def _respond(request: web.Request, asset: Asset, headers: dict[str, str]) -> web.Response:
    sent, coding = asset.plain, {}
    if asset.gzipped is not None and accepts_coding(request.headers.get("Accept-Encoding"), "gzip"):
        sent, coding = asset.gzipped, {"Content-Encoding": "gzip"}
    headers = {**headers, "ETag": sent.etag}
    if _matches(request.if_none_match, sent.etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=sent.body, content_type=asset.content_type, charset=asset.charset,
                        headers={**headers, **coding})


@routes.get("/")
async def page(request: web.Request) -> web.Response:
    return _respond(request, request.app[UI_ASSETS].page, PAGE_HEADERS)


@routes.get("/ui/{version}/{path:.+}")
async def asset(request: web.Request) -> web.Response:
    assets = request.app[UI_ASSETS]
    found = assets.assets.get(request.match_info["path"])
    if request.match_info["version"] != assets.version or found is None:
        raise NotFound()
    return _respond(request, found, ASSET_HEADERS)
