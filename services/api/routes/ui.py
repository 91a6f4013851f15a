"""The web app: the page at `/` and its assets under `/ui/<version>/`
(services/api/ui_assets.py says how they are versioned).

The page and the assets carry a Content-Security-Policy that runs only this
origin's scripts (none inline), talks only to this origin, and lets no DOM
sink take a string (Trusted Types): content that users upload is served from
the same origin, so nothing in it may ever be able to script the app.
"""

from __future__ import annotations

from aiohttp import web

from shared.errors import NotFound

from ..keys import UI_ASSETS
from ..ui_assets import Asset

routes = web.RouteTableDef()

UI_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
          "media-src 'self' blob:; connect-src 'self'; font-src 'self'; manifest-src 'self'; "
          "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; require-trusted-types-for 'script'")
_COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Vary": "Accept-Encoding",
}
PAGE_HEADERS = {**_COMMON, "Content-Security-Policy": UI_CSP, "X-Frame-Options": "DENY", "Cache-Control": "no-cache"}
ASSET_HEADERS = {**_COMMON, "Cache-Control": "public, max-age=31536000, immutable"}


def _respond(request: web.Request, asset: Asset, headers: dict[str, str], etag: str) -> web.Response:
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers={**headers, "ETag": etag})
    body = asset.body
    extra = {"ETag": etag}
    if asset.gzipped is not None and "gzip" in request.headers.get("Accept-Encoding", ""):
        body = asset.gzipped
        extra["Content-Encoding"] = "gzip"
    return web.Response(body=body, content_type=asset.content_type, charset=asset.charset,
                        headers={**headers, **extra})


@routes.get("/")
async def page(request: web.Request) -> web.Response:
    assets = request.app[UI_ASSETS]
    return _respond(request, assets.page, PAGE_HEADERS, f'"{assets.version}"')


@routes.get("/ui/{version}/{path:.+}")
async def asset(request: web.Request) -> web.Response:
    assets = request.app[UI_ASSETS]
    found = assets.assets.get(request.match_info["path"])
    if request.match_info["version"] != assets.version or found is None:
        raise NotFound()
    headers = ASSET_HEADERS
    if found.content_type in ("text/javascript", "text/html"):
        headers = {**ASSET_HEADERS, "Content-Security-Policy": UI_CSP}
    return _respond(request, found, headers, f'"{assets.version}"')
