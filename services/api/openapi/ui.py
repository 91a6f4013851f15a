"""The web app as served (routes/ui.py): the page at `/` and its versioned
assets under `/ui/<version>/`. Not an API a program calls; documented so the
document covers every route, with the headers a browser relies on."""

from __future__ import annotations

from ..routes.ui import ASSET_HEADERS, PAGE_HEADERS, SECURITY_HEADERS
from .parts import Json, empty_answer, error, header, operation, with_request_id

TAG = "ui"

_ETAG = header("The bytes as sent (each Content-Encoding its own tag)",
               {"type": "string", "pattern": '^"[0-9a-f]{16}"$'})
_VARY = header("The bytes depend on Accept-Encoding", {"const": "Accept-Encoding"})
_GZIP = header("Present when the bytes are gzipped", {"const": "gzip"}, required=False)
_WHY = {
    "Content-Security-Policy": "Only this origin's scripts, none inline, no string reaches a DOM sink (Trusted "
                               "Types); nothing uploaded to this origin can script the app",
    "X-Content-Type-Options": "The browser keeps to the declared type",
    "X-Frame-Options": "Never framed",
    "Referrer-Policy": "Nothing of the app's URLs leaves for another origin",
}
assert set(_WHY) == set(SECURITY_HEADERS)
_SECURITY = {name: header(_WHY[name], {"const": value}) for name, value in SECURITY_HEADERS.items()}
_PAGE_HEADERS = {**_SECURITY, "ETag": _ETAG, "Vary": _VARY,
                 "Cache-Control": header("Revalidated on every visit (a release shows on the next load)",
                                         {"const": PAGE_HEADERS["Cache-Control"]})}
_ASSET_HEADERS = {**_SECURITY, "ETag": _ETAG, "Vary": _VARY,
                  "Cache-Control": header("Kept for good: a release is a new version, so new URLs",
                                          {"const": ASSET_HEADERS["Cache-Control"]})}

_CONDITIONAL = [
    {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"},
     "description": "ETags (a list, weak or strong) or `*`: 304 when one names the bytes that would be sent "
                    "(weak comparison)"},
    {"name": "Accept-Encoding", "in": "header", "required": False, "schema": {"type": "string"},
     "description": "gzip (or x-gzip, or `*`) with q > 0: text over 512 bytes that compresses comes gzipped; "
                    "q=0 refuses it"},
]


def _ok(description: str, headers: Json, media: str, schema: Json) -> Json:
    return {"description": description,
            "headers": with_request_id({**headers, "Content-Encoding": _GZIP}),
            "content": {media: {"schema": schema}}}


_NOT_MODIFIED = "Not modified: If-None-Match named the bytes that would be sent (or was `*`)"

PATHS: Json = {
    "/": {"get": operation(
        "getUiPage", "The web app's page", tag=TAG, parameters=_CONDITIONAL,
        description="index.html, naming the current version of the assets; a browser opens it and the app "
                    "takes over (hash routes, the v2 API).",
        responses={"200": _ok("The page", _PAGE_HEADERS, "text/html", {"type": "string"}),
                   "304": empty_answer(_NOT_MODIFIED, _PAGE_HEADERS)},
    )},
    "/ui/{version}/{path}": {"get": operation(
        "getUiAsset", "A file of the web app (script, style sheet, icon)", tag=TAG,
        parameters=[
            {"name": "version", "in": "path", "required": True, "schema": {"type": "string"},
             "description": "The version the page names: a hash of every asset (16 hex digits)",
             "examples": {"old": {"summary": "Not the current version: 404", "value": "0" * 16}}},
            {"name": "path", "in": "path", "required": True, "schema": {"type": "string"},
             "description": "The file's path under the app's folder, `/` between folders (js/main.js)",
             "examples": {"main": {"summary": "The app's first module", "value": "js/main.js"}}},
            *_CONDITIONAL],
        description="Any version but the current one is not found: the page names the current one, and a "
                    "release changes it.",
        responses={"200": _ok("The file, in its own type", _ASSET_HEADERS, "*/*",
                              {"type": "string", "format": "binary"}),
                   "304": empty_answer(_NOT_MODIFIED, _ASSET_HEADERS),
                   "404": error("Not the current version, or no such file", "Not found")},
    )},
}
