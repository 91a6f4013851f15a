"""Building blocks of the OpenAPI document: the shared components (schemas,
headers, the answers many operations share) and `operation()`, which adds to
each answer what every response carries. A new route (v1 or v2) is one
`operation()` call in the module of its surface."""

from __future__ import annotations

import re
from typing import Any

from shared.domain.names import MAX_NAME_BYTES

from ..bodies import JSON_BODY_LIMIT
from ..content_headers import CONTENT_SECURITY_POLICY
from ..json_upload import MEMBERS_LIMIT
from ..list_params import DEFAULT_LIMIT, MAX_LIMIT

Json = dict[str, Any]

ID_PATTERN = "^[0-9a-f]{24}$"


def ref(kind: str, name: str) -> Json:
    return {"$ref": f"#/components/{kind}/{name}"}


def header(description: str, schema: Json, *, required: bool = True) -> Json:
    return {"description": description, "required": required, "schema": schema}


_REQUEST_ID = ref("headers", "RequestId")


def with_request_id(headers: Json | None = None) -> Json:
    """`headers` and X-Request-Id, which every answer carries."""
    return {"X-Request-Id": _REQUEST_ID, **(headers or {})}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:48]


def error(description: str, *messages: str, headers: Json | None = None) -> Json:
    """An error answer: `{"error": <message>}`, with its messages as examples."""
    content: Json = {"schema": ref("schemas", "Error")}
    if messages:
        content["examples"] = {_slug(m): {"summary": m, "value": {"error": m}} for m in messages}
    return {"description": description, "headers": with_request_id(headers),
            "content": {"application/json": content}}


def coded_error(description: str, *answers: tuple[str, str], headers: Json | None = None) -> Json:
    """A v2 (and /s/) error answer: `{"error": <message>, "code": <code>}`, its (message, code) pairs as examples."""
    content: Json = {"schema": ref("schemas", "CodedError")}
    if answers:
        content["examples"] = {_slug(m): {"summary": m, "value": {"error": m, "code": c}} for m, c in answers}
    return {"description": description, "headers": with_request_id(headers),
            "content": {"application/json": content}}


def json_answer(description: str, schema: Json, *, links: Json | None = None) -> Json:
    answer: Json = {"description": description, "headers": with_request_id(),
                    "content": {"application/json": {"schema": schema}}}
    if links:
        answer["links"] = links
    return answer


def empty_answer(description: str, headers: Json | None = None) -> Json:
    return {"description": description, "headers": with_request_id(headers)}


def operation(operation_id: str, summary: str, *, responses: Json, tag: str, description: str | None = None,
              security: list[Json] | None = None, parameters: list[Json] | None = None,
              body: Json | None = None) -> Json:
    op: Json = {"operationId": operation_id, "summary": summary, "tags": [tag]}
    if description:
        op["description"] = description
    op["security"] = security or []
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = body
    op["responses"] = dict(sorted(responses.items()))
    return op


def json_body(schema: Json, examples: dict[str, Json]) -> Json:
    """A required JSON body, with named example values."""
    media: Json = {"schema": schema, "examples": {name: {"value": value} for name, value in examples.items()}}
    return {"required": True, "content": {"application/json": media}}


# --- Security requirements ---------------------------------------------------
TOKEN: list[Json] = [{"token": []}]
BASIC: list[Json] = [{"basic": []}]
TOKEN_OPTIONAL: list[Json] = [{}, {"token": []}]
# v2: the same tokens, as X-Token or as Authorization: Bearer.
V2_TOKEN: list[Json] = [{"token": []}, {"bearer": []}]

# --- Answers many operations share (components/responses) --------------------
UNAUTHORIZED = ref("responses", "Unauthorized")
NOT_FOUND = ref("responses", "NotFound")
TOO_MANY_ATTEMPTS = ref("responses", "TooManyAttempts")
BODY_TIMEOUT = ref("responses", "BodyTimeout")
TOO_LARGE = ref("responses", "TooLarge")
UNAVAILABLE = ref("responses", "Unavailable")
INSUFFICIENT_STORAGE = ref("responses", "InsufficientStorage")
# The same answers on /v2/ and /s/ paths, where every error carries its code.
V2_UNAUTHORIZED = ref("responses", "V2Unauthorized")
V2_TOO_MANY_ATTEMPTS = ref("responses", "V2TooManyAttempts")
V2_BODY_TIMEOUT = ref("responses", "V2BodyTimeout")
V2_UNAVAILABLE = ref("responses", "V2Unavailable")
V2_INSUFFICIENT_STORAGE = ref("responses", "V2InsufficientStorage")

_RETRY_AFTER = ref("headers", "RetryAfter")

COMPONENTS: Json = {
    "securitySchemes": {
        "token": {"type": "apiKey", "in": "header", "name": "X-Token",
                  "description": "A token from GET /connect; it lives security.token_ttl seconds (24 h)"},
        "basic": {"type": "http", "scheme": "basic", "description": "email:password"},
        "bearer": {"type": "http", "scheme": "bearer",
                   "description": "The same token as X-Token, in `Authorization: Bearer <token>` (v2)"},
    },
    "headers": {
        "RequestId": header("The request's id: the client's X-Request-Id when it is 1-128 of "
                            "[A-Za-z0-9._:-], else a fresh one; also in the request's log line",
                            {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"}),
        "RetryAfter": header("Seconds to wait before trying again", {"type": "integer", "minimum": 1}),
    },
    "schemas": {
        "Error": {"type": "object", "required": ["error"],
                  "properties": {"error": {"type": "string", "minLength": 1}}},
        "CodedError": {"type": "object", "required": ["error", "code"],
                       "properties": {"error": {"type": "string", "minLength": 1},
                                      "code": {"type": "string", "pattern": "^[a-z]+(_[a-z]+)*$",
                                               "description": "Stable, for programs; the message is for people"}}},
        "Id": {"type": "string", "pattern": ID_PATTERN, "description": "24 lowercase hex digits"},
    },
    "responses": {
        "Unauthorized": error("Missing, unknown or expired token", "Unauthorized"),
        "NotFound": error("No such file for this caller (another user's looks the same); "
                          "a malformed id is simply not found", "Not found"),
        "TooManyAttempts": error("Too many failed attempts from this client address (and account): "
                                 "security.login_max_failures*, security.signup_max_per_address",
                                 "Too many attempts", headers={"Retry-After": _RETRY_AFTER}),
        "BodyTimeout": error("No body bytes arrived for server.body_timeout seconds", "Request Timeout"),
        "TooLarge": error(f"The body is over its limit: server.max_body_size bytes for an upload "
                          f"({MEMBERS_LIMIT} for its members other than data), {JSON_BODY_LIMIT} for other "
                          "JSON bodies",
                          f"Request body too large: Maximum request body size {JSON_BODY_LIMIT} exceeded, "
                          f"actual body size {JSON_BODY_LIMIT + 1}"),
        "Unavailable": error("Redis or the database does not answer, a database write waited too long, "
                             "or this process holds server.max_inflight_body_bytes of bodies already: "
                             "retry (most likely on another worker)",
                             "Service unavailable", headers={"Retry-After": _RETRY_AFTER}),
        "InsufficientStorage": error("No room left on the disk (content) or in the database",
                                     "Insufficient storage"),
        "V2Unauthorized": coded_error("Missing, unknown or expired token", ("Unauthorized", "unauthorized")),
        "V2TooManyAttempts": coded_error("Too many failed attempts from this client address (and account): "
                                         "security.login_max_failures*, security.signup_max_per_address",
                                         ("Too many attempts", "too_many_attempts"),
                                         headers={"Retry-After": _RETRY_AFTER}),
        "V2BodyTimeout": coded_error("No body bytes arrived for server.body_timeout seconds",
                                     ("Request Timeout", "request_timeout")),
        "V2Unavailable": coded_error("Redis or the database does not answer, a database write waited too long, "
                                     "or this process holds server.max_inflight_body_bytes of bodies already: "
                                     "retry (most likely on another worker)",
                                     ("Service unavailable", "unavailable"), headers={"Retry-After": _RETRY_AFTER}),
        "V2InsufficientStorage": coded_error("No room left on the disk (content) or in the database",
                                             ("Insufficient storage", "insufficient_storage")),
    },
}

# --- Headers every content answer carries (content_headers.py) ---------------
SAFE_CONTENT_HEADERS: Json = {
    "X-Content-Type-Options": header("The browser keeps to the declared type", {"const": "nosniff"}),
    "Content-Security-Policy": header("Content never runs as a page of this origin",
                                      {"const": CONTENT_SECURITY_POLICY}),
    "Content-Disposition": header(
        "inline only for raster images, text/plain, audio and video (and never with ?download=1); "
        "the name in RFC 6266 form", {"type": "string", "pattern": "^(inline|attachment); filename=\"[^\"]*\"; "
                                      "filename\\*=UTF-8''[A-Za-z0-9%!#$&+.^_`|~-]+$"}),
    "Cache-Control": header("Revalidate every time; private unless the file is public",
                            {"enum": ["public, max-age=0", "private, max-age=0"]}),
}

# --- Content as served (serving.py): v1 /data, v2 /content -------------------
CONTENT_HEADERS: Json = {
    **SAFE_CONTENT_HEADERS,
    "ETag": header("The content's version (from a folder: mtime and size; from S3: the object's ETag)",
                   {"type": "string"}),
    "Last-Modified": header("When the content was written", {"type": "string"}),
}
CONDITIONAL_HEADERS = [
    {"name": name, "in": "header", "required": False, "schema": {"type": "string"}, "description": text}
    for name, text in (
        ("Range", "One range, `bytes=first-last`, `bytes=first-` or `bytes=-suffix`: 206; a malformed "
                  "or unsatisfiable range: 416"),
        ("If-Range", "An HTTP date: the Range applies only if the content has not changed since"),
        ("If-None-Match", "An ETag list or `*`: 304 when one matches"),
        ("If-Modified-Since", "An HTTP date: 304 when the content has not changed since"),
        ("If-Match", "An ETag list or `*`: 412 when none matches"),
        ("If-Unmodified-Since", "An HTTP date: 412 when the content changed since"),
    )
]
# The answers of a content GET but its errors (400, 404, 503).
CONTENT_ANSWERS: Json = {
    "200": {"description": "The bytes", "headers": {
        **CONTENT_HEADERS, "Accept-Ranges": header("Ranges are served", {"const": "bytes"}),
        "X-Request-Id": _REQUEST_ID},
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
    "206": {"description": "The requested range of the bytes", "headers": {
        **CONTENT_HEADERS, "X-Request-Id": _REQUEST_ID,
        "Content-Range": header("The range sent", {"type": "string", "pattern": "^bytes [0-9]+-[0-9]+/[0-9]+$"})},
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
    "302": empty_answer("With content in S3 and blobs.redirect_downloads: a presigned URL of the object, "
                        "whose answer carries the content type, disposition and caching", {
        "Location": header("The presigned URL (valid blobs.presign_expiry seconds)", {"type": "string"}),
        "Cache-Control": header("Never cached: the URL expires", {"const": "private, no-store"}),
        "X-Content-Type-Options": SAFE_CONTENT_HEADERS["X-Content-Type-Options"],
        "Content-Security-Policy": SAFE_CONTENT_HEADERS["Content-Security-Policy"]}),
    "304": empty_answer("Not modified (If-None-Match, If-Modified-Since)", {**CONTENT_HEADERS}),
    "412": empty_answer("A precondition failed (If-Match, If-Unmodified-Since)", {**SAFE_CONTENT_HEADERS}),
    "416": empty_answer("A malformed Range, or one outside the content", {
        **SAFE_CONTENT_HEADERS,
        "Content-Range": header("The content's length", {"type": "string", "pattern": "^bytes \\*/[0-9]+$"})}),
}

# --- What the v2 operations share ---------------------------------------------
TIME = {"type": "string", "format": "date-time",
        "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$",
        "description": "RFC 3339, UTC, to the millisecond"}
NULLABLE_TIME = {**TIME, "type": ["string", "null"]}
# A name as v2 takes it (shared/domain/names.py); the 255-byte limit is checked on the UTF-8 bytes.
NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME_BYTES,
        "pattern": "^[^/\\\\\\u0000-\\u001f\\u007f-\\u009f]+$", "not": {"enum": [".", ".."]},
        "description": f"NFC-normalised; 1-{MAX_NAME_BYTES} bytes of UTF-8; not . or ..; no /, \\, NUL or "
                       "other control characters"}
UNKNOWN_ID = {"unknown": {"summary": "Well-formed, no such file: 404", "value": "0" * 24}}
ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"},
            "description": "A file id (24 hex digits); anything else is simply not found", "examples": UNKNOWN_ID}
LIMIT_PARAM = {"name": "limit", "in": "query", "required": False,
               "schema": {"type": "string", "pattern": "^(?:0{0,3}[1-9]|0{0,2}[1-9][0-9]|0?[1-9][0-9]{2}|1000)?$",
                          "default": str(DEFAULT_LIMIT)},
               "description": f"Items per page, 1-{MAX_LIMIT} (ASCII digits); empty: {DEFAULT_LIMIT}"}
CURSOR_PARAM = {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"},
                "description": "The `next` of the same list's previous page (opaque); anything else, or a cursor "
                               "of another list: 400 Invalid cursor"}
