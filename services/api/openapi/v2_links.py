"""Share links as served: the owner's operations (routes/links.py) and the
public /s/ ones (routes/shares.py). Every status each can answer; the inputs
each accepts, as far as OpenAPI can say (a cursor must come from the same
listing's previous page: the schemathesis hooks know this)."""

from __future__ import annotations

from shared.domain.links import MAX_PASSWORD_LENGTH, UNLOCK_SECONDS
from shared.errors import Gone, PasswordRequired, WrongLinkPassword

from ..bodies import JSON_BODY_LIMIT
from ..content_headers import CONTENT_SECURITY_POLICY
from ..list_params import LIMIT_MESSAGE, SORT_MESSAGE, SORTS
from ..routes.links import FIELDS
from ..routes.shares import FORM_LIMIT
from ..serving import DOWNLOAD_VALUES, THUMBNAIL_SIZES
from ..share_access import UNLOCK_COOKIE
from ..share_pages import PAGE_CSP, SHARE_HEADERS
from .parts import (
    BODY_TIMEOUT,
    CONTENT_ANSWERS,
    CURSOR_PARAM,
    ID_PARAM,
    INSUFFICIENT_STORAGE,
    LIMIT_PARAM,
    NULLABLE_TIME,
    TIME,
    TOKEN,
    TOO_LARGE,
    UNAUTHORIZED,
    UNAVAILABLE,
    Json,
    coded_error,
    empty_answer,
    header,
    json_answer,
    json_body,
    operation,
    ref,
    with_request_id,
)

TAG = "v2 links"
# links.max_expiry as config.toml ships it; an operator may lower or raise it.
MAX_EXPIRY = 2_592_000
MAX_DOWNLOADS = 2**53
_TOKEN_URL = "^/s/[A-Za-z0-9_-]{22}$"

_LINK_PROPERTIES: Json = {
    "id": ref("schemas", "Id"),
    "fileId": ref("schemas", "Id"),
    "expiresAt": TIME,
    "maxDownloads": {"type": ["integer", "null"], "minimum": 1, "description": "null: no limit"},
    "downloads": {"type": "integer", "minimum": 0, "description": "Content downloads so far"},
    "hasPassword": {"type": "boolean"},
    "createdAt": TIME,
    "revokedAt": {**NULLABLE_TIME, "description": "Set once revoked"},
    "active": {"type": "boolean", "description": "Whether it opens right now: not revoked, expired or used up"},
}
SCHEMAS: Json = {
    "ShareLink": {
        "type": "object", "additionalProperties": False, "required": list(_LINK_PROPERTIES),
        "properties": _LINK_PROPERTIES,
    },
    "NewShareLink": {
        "type": "object", "additionalProperties": False, "required": ["url", *_LINK_PROPERTIES],
        "properties": {**_LINK_PROPERTIES, "url": {
            "type": "string", "pattern": _TOKEN_URL,
            "description": "The link, relative to this service. Its token (128 random bits) is shown only "
                           "here: the service keeps only its SHA-256"}},
    },
    "SharedFolder": {
        "type": "object", "additionalProperties": False, "required": ["id", "name", "path", "items", "next"],
        "properties": {
            "id": ref("schemas", "Id"),
            "name": {"type": "string"},
            "path": {"type": "array", "description": "The folders from the linked one down to this one's parent",
                     "items": {"type": "object", "additionalProperties": False, "required": ["id", "name", "url"],
                               "properties": {"id": ref("schemas", "Id"), "name": {"type": "string"},
                                              "url": {"type": "string", "pattern": "^/s/"}}}},
            "items": {"type": "array", "items": {
                "type": "object", "additionalProperties": False,
                "required": ["id", "name", "type", "size", "mimeType", "updatedAt", "hasThumbnails", "url"],
                "properties": {
                    "id": ref("schemas", "Id"), "name": {"type": "string"},
                    "type": {"enum": ["folder", "file", "image"]},
                    "size": {"type": ["integer", "null"], "minimum": 0},
                    "mimeType": {"type": ["string", "null"]}, "updatedAt": TIME,
                    "hasThumbnails": {"type": "boolean"},
                    "url": {"type": "string", "pattern": "^/s/[A-Za-z0-9_-]{22}/[0-9a-f]{24}$",
                            "description": "The item: a file's content, a folder's listing"}}}},
            "next": {"type": ["string", "null"], "pattern": "^[A-Za-z0-9_-]+$",
                     "description": "The cursor of the next page; null on the last"},
        },
    },
}

_LINK_FIELDS: Json = {
    "expiresIn": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_EXPIRY,
                  "description": "Seconds, at most links.max_expiry; absent or null: links.default_expiry "
                                 "(7 days)"},
    "password": {"type": ["string", "null"], "minLength": 1, "maxLength": MAX_PASSWORD_LENGTH,
                 "description": "Asked before anything is shown; kept as an argon2id hash"},
    "maxDownloads": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_DOWNLOADS,
                     "description": "Content downloads allowed; absent or null: no limit"},
}
assert set(_LINK_FIELDS) == set(FIELDS)
_LINK_BODY = {"type": "object", "additionalProperties": False, "properties": _LINK_FIELDS}

# What a client calls next with a new link (OpenAPI links: schemathesis's stateful phase follows them).
_ON_A_LINK = {
    "ListShareLinks": {"operationId": "listShareLinks", "parameters": {"id": "$response.body#/fileId"}},
    "RevokeShareLink": {"operationId": "revokeShareLink", "parameters": {"id": "$response.body#/id"}},
}
# ... and with a file's id (added to the answers that make or show a file).
ON_A_FILE = {"CreateShareLink": {"operationId": "createShareLink", "parameters": {"id": "$response.body#/id"}}}

_NOT_FOUND = coded_error("No such live item of the caller (another user's looks the same; a malformed id is "
                         "simply not found)", ("Not found", "not_found"))

# ---- /s/
_WHY = {"Referrer-Policy": "The token never leaves in a Referer", "X-Content-Type-Options": "No sniffing",
        "Cache-Control": "Never kept by a cache", "X-Robots-Tag": "Never indexed"}
assert set(_WHY) == set(SHARE_HEADERS)
_SHARE_HEADERS = {name: header(_WHY[name], {"const": value}) for name, value in SHARE_HEADERS.items()}
_CONTENT = {
    **with_request_id(), **_SHARE_HEADERS,
    "Content-Security-Policy": header("Content never runs as a page of this origin",
                                      {"const": CONTENT_SECURITY_POLICY}),
    "Content-Disposition": header("inline only for raster images, text/plain, audio and video (never with "
                                  "?download=1)", {"type": "string", "pattern": "^(inline|attachment); "}),
}
_PAGE = {**with_request_id(), **_SHARE_HEADERS, "Content-Security-Policy": header(
    "No script, ever; styles only from the web app's files (/ui/)", {"const": PAGE_CSP})}
_HTML = {"text/html": {"schema": {"type": "string"}}}


def _share_error(description: str, *answers: tuple[str, str], headers: Json | None = None) -> Json:
    """A /s/ error: JSON with `code`, or a small page for a browser (Accept prefers text/html)."""
    answer = coded_error(description, *answers, headers=headers)
    return {**answer, "content": {**answer["content"], **_HTML}}


_GONE = _share_error("The link was revoked, has expired or is used up, or its file is in the trash",
                     (Gone.message, Gone.code))
_SHARE_NOT_FOUND = _share_error("No link has this token (a purged file's links are gone too), or no live item "
                                "below the linked folder has this id", ("Not found", "not_found"))
_PASSWORD = _share_error(f"The link has a password: POST it to the same URL first (a form for browsers); "
                         f"the right one sets a cookie ({UNLOCK_COOKIE}) that opens the link for "
                         f"{UNLOCK_SECONDS // 60} minutes", (PasswordRequired.message, PasswordRequired.code),
                         (WrongLinkPassword.message, WrongLinkPassword.code))
_TOKEN_PARAM = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"},
                "description": "The link's token, from its url"}
_ITEM_PARAM = {"name": "file_id", "in": "path", "required": True, "schema": {"type": "string"},
               "description": "An item below the linked folder (24 hex digits); anything else is not found"}
_SHARE_QUERY = [
    {"name": "size", "in": "query", "required": False, "schema": {"enum": list(THUMBNAIL_SIZES)},
     "description": "A file: an image's thumbnail of this width (404 until made); not a download"},
    {"name": "download", "in": "query", "required": False, "schema": {"enum": list(DOWNLOAD_VALUES)},
     "description": "A file: 1 or true for Content-Disposition attachment (and never the page)"},
    {"name": "sort", "in": "query", "required": False, "schema": {"enum": ["", *SORTS], "default": "name"},
     "description": "A folder: as GET /v2/files"},
    LIMIT_PARAM, CURSOR_PARAM,
    *({"name": name, "in": "header", "required": False, "schema": {"type": "string"}, "description": text}
      for name, text in (
          ("Range", "A file: one range: 206; a malformed or unsatisfiable one: 416"),
          ("If-None-Match", "A file: an ETag list or `*`: 304 when one matches"),
          ("If-Match", "A file: an ETag list or `*`: 412 when none matches"),
      )),
]
_SHARE_DESCRIPTION = (
    "A file link: the content with the safe-serving headers (Range, ETag and 304 as GET /files/{id}/data), or, "
    "for a browser navigating to it (Accept prefers text/html), a small page with the name, the size, a "
    "preview of an image and a download button. A folder link: its live items a page at a time, as JSON or "
    "as a page, each at /s/{token}/{file_id}. Every GET of a file's content counts as a download (a range "
    "and a 304 too; HEAD, pages and thumbnails do not); past maxDownloads the link is gone (410). Checked in "
    "this order: the query (400), the token (404), the link (410), the password (401), the item (404). "
    "Every answer carries Referrer-Policy: no-referrer and is never stored by a cache.")
_SHOW_RESPONSES: Json = {
    "200": {"description": "A file's content (any type, as its name says), a folder's listing (JSON unless "
                           "the client prefers text/html), or a page",
            "headers": {**_CONTENT, "Content-Security-Policy": header(
                "A file's: its sandbox; a page's: no script, the app's styles",
                {"enum": [CONTENT_SECURITY_POLICY, PAGE_CSP]}, required=False),
                "Content-Disposition": header("A file's content: inline or attachment", {"type": "string"},
                                              required=False)},
            "content": {"application/json": {"schema": ref("schemas", "SharedFolder")}, **_HTML,
                        "*/*": {"schema": {"type": "string", "format": "binary"}}}},
    "206": {"description": "The requested range of a file's content", "headers": {
        **_CONTENT, "Content-Range": header("The range sent", {"type": "string",
                                                               "pattern": "^bytes [0-9]+-[0-9]+/[0-9]+$"})},
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
    "302": CONTENT_ANSWERS["302"],  # a file's content, with blobs in S3 and blobs.redirect_downloads
    "304": empty_answer("Not modified (If-None-Match)", _CONTENT),
    "400": _share_error("A bad parameter, or a cursor not from this listing's previous page",
                        ("Invalid size: use 500, 250 or 100", "invalid"), ("Invalid cursor", "invalid"),
                        (LIMIT_MESSAGE, "invalid"), (SORT_MESSAGE, "invalid")),
    "401": _PASSWORD, "404": _SHARE_NOT_FOUND, "410": _GONE,
    "412": empty_answer("A precondition failed (If-Match)", _CONTENT),
    "416": empty_answer("A malformed Range, or one outside the content", {
        **_CONTENT, "Content-Range": header("The content's length", {"type": "string",
                                                                     "pattern": "^bytes \\*/[0-9]+$"})}),
    "503": UNAVAILABLE,
}
_PASSWORD_SCHEMA = {"type": "object", "required": ["password"], "additionalProperties": False,
                    "properties": {"password": {"type": "string", "minLength": 1,
                                                "maxLength": MAX_PASSWORD_LENGTH}}}
_UNLOCK_BODY = {"required": True, "content": {
    "application/json": {"schema": _PASSWORD_SCHEMA, "examples": {"unlock": {"value": {"password": "pw"}}}},
    "application/x-www-form-urlencoded": {"schema": _PASSWORD_SCHEMA},
}}
_SET_COOKIE = header(f"{UNLOCK_COOKIE}, HttpOnly, SameSite=Strict, Path=/s/<token>, Max-Age={UNLOCK_SECONDS}, "
                     "Secure over HTTPS; only when the link has a password", {"type": "string"}, required=False)
_UNLOCK_RESPONSES: Json = {
    "204": empty_answer("Right (or the link has no password): a JSON body's answer",
                        {**_SHARE_HEADERS, "Set-Cookie": _SET_COOKIE}),
    "303": empty_answer("Right (or no password): a form's answer, back to the page it came from", {
        **_SHARE_HEADERS, "Set-Cookie": _SET_COOKIE,
        "Location": header("The same URL", {"type": "string", "pattern": "^/s/"})}),
    "400": _share_error("No password, or not a form or JSON", ("Missing password", "invalid"),
                        ("Invalid JSON body: expected an object", "invalid")),
    "401": _PASSWORD, "404": _SHARE_NOT_FOUND, "408": BODY_TIMEOUT, "410": _GONE,
    "413": _share_error(f"The body is over {FORM_LIMIT} bytes", ("Request body too large", "too_large")),
    "429": _share_error("Too many wrong passwords from this client address (for this link, or for any "
                        "account or link): security.login_max_failures*", ("Too many attempts", "too_many_attempts"),
                        headers={"Retry-After": ref("headers", "RetryAfter")}),
    "503": UNAVAILABLE,
}
_UNLOCK_DESCRIPTION = (
    "Checked in this order: the body (400), the token (404), the link (410), the password (401). Wrong "
    "passwords are counted as failed logins are: per (link, client address) and per address; past the limit "
    "every attempt is 429 until the window ends, a right one too. The body is checked whether or not the link "
    "has a password.")


def _share_paths(with_item: bool) -> Json:
    suffix, name = ("/{file_id}", "SharedItem") if with_item else ("", "Share")
    parameters = [_TOKEN_PARAM, _ITEM_PARAM] if with_item else [_TOKEN_PARAM]
    what = "an item below a folder link" if with_item else "a share link"
    return {f"/s/{{token}}{suffix}": {
        "get": operation(f"open{name}", f"Open {what}; no token needed, the link is the key", tag=TAG,
                         description=_SHARE_DESCRIPTION, parameters=[*parameters, *_SHARE_QUERY],
                         responses=_SHOW_RESPONSES),
        "post": operation(f"unlock{name}", f"The password of {what}", tag=TAG, description=_UNLOCK_DESCRIPTION,
                          parameters=parameters, body=_UNLOCK_BODY, responses=_UNLOCK_RESPONSES),
    }}


PATHS: Json = {
    "/v2/files/{id}/links": {
        "post": operation(
            "createShareLink", "A new share link to one of the caller's live items (a file or a folder)",
            tag=TAG, security=TOKEN, parameters=[ID_PARAM],
            description=f"Other members are refused. The body is at most {JSON_BODY_LIMIT} bytes; an empty "
                        "body takes every default.",
            # An empty body (none at all, or {}) takes every default.
            body={**json_body(_LINK_BODY, {"week": {}, "guarded": {"expiresIn": 3600, "password": "pw",
                                                                   "maxDownloads": 3}}), "required": False},
            responses={"201": json_answer("The link, with its url (shown only now)", ref("schemas", "NewShareLink"),
                                          links=_ON_A_LINK),
                       "400": coded_error("Invalid input",
                                          (f"Invalid expiresIn: a whole number of seconds from 1 to {MAX_EXPIRY}",
                                           "invalid"),
                                          (f"Invalid password: a string of 1 to {MAX_PASSWORD_LENGTH} characters",
                                           "invalid"),
                                          ("Invalid maxDownloads: a whole number from 1, or null", "invalid")),
                       "401": UNAUTHORIZED, "404": _NOT_FOUND, "408": BODY_TIMEOUT, "413": TOO_LARGE,
                       "503": UNAVAILABLE, "507": INSUFFICIENT_STORAGE},
        ),
        "get": operation(
            "listShareLinks", "The item's links, newest first, revoked and expired ones too (never their tokens)",
            tag=TAG, security=TOKEN, parameters=[ID_PARAM],
            description="A trashed item's links are not found (as the item is for every change); they come back "
                        "with it.",
            responses={"200": json_answer("Every link of the item, in one page", {
                "type": "object", "additionalProperties": False, "required": ["items", "next"],
                "properties": {"items": {"type": "array", "items": ref("schemas", "ShareLink")},
                               "next": {"type": "null"}}}),
                "401": UNAUTHORIZED,
                "404": coded_error("Not one of the caller's live items", ("Not found", "not_found")),
                "503": UNAVAILABLE},
        ),
    },
    "/v2/links/{id}": {"delete": operation(
        "revokeShareLink", "Revoke a link: it stops working at once (410), in every process", tag=TAG,
        security=TOKEN, parameters=[{**ID_PARAM, "description": "A link id"}],
        responses={"204": empty_answer("Revoked (again, if it was)"), "401": UNAUTHORIZED,
                   "404": coded_error("Not one of the caller's links", ("Not found", "not_found")),
                   "503": UNAVAILABLE, "507": INSUFFICIENT_STORAGE},
    )},
    **_share_paths(with_item=False),
    **_share_paths(with_item=True),
}
