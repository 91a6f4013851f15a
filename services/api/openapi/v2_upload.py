"""The v2 content operations as served (routes/v2_upload.py): POST /v2/files
(a folder from JSON, files from a multipart form), PUT and GET
/v2/files/:id/content. Every status each can answer; the inputs each
accepts, as far as OpenAPI can say (a name's limit is in UTF-8 bytes; the
fields come before the files; the size and quota limits depend on the
service's settings and the user's bytes: the schemathesis hooks know these)."""

from __future__ import annotations

from shared.domain.names import MAX_NAME_BYTES

from ..bodies import JSON_BODY_LIMIT
from ..routes.v2_upload import FOLDER_FIELDS
from ..serving import DOWNLOAD_VALUES, THUMBNAIL_SIZES
from ..upload_form import FORM_FIELDS, FRAMING_LIMIT, PUBLIC_VALUES
from .parts import (
    BODY_TIMEOUT,
    CONDITIONAL_HEADERS,
    CONTENT_ANSWERS,
    ID_PARAM,
    NAME,
    TOKEN,
    TOKEN_OPTIONAL,
    UNAUTHORIZED,
    UNAVAILABLE,
    Json,
    coded_error,
    json_answer,
    operation,
    ref,
)
from .v2_files import ON_A_FILE, TAG

_FILE = ref("schemas", "FileV2")
_PARENT = {"anyOf": [{"const": 0}, {"const": "0"}, {"type": "null"},
                     {"type": "string", "pattern": "^[0-9a-fA-F]{24}$"}], "default": 0,
           "description": "0, \"0\" or null: the root; else one of the caller's live folders"}

_FOLDER: Json = {
    "type": "object", "required": ["name", "type"], "additionalProperties": False,
    "properties": {"name": NAME, "type": {"const": "folder"}, "parentId": _PARENT,
                   "isPublic": {"type": "boolean", "default": False}},
}
assert set(_FOLDER["properties"]) == set(FOLDER_FIELDS)
_FORM: Json = {
    "type": "object", "required": ["file"], "additionalProperties": False,
    "properties": {
        "parentId": {"type": "string", "pattern": "^(0|[0-9a-fA-F]{24})?$",
                     "description": "Before the files. Empty or 0: the root; else one of the caller's live folders"},
        "isPublic": {"enum": list(PUBLIC_VALUES), "description": "Before the files; false when absent"},
        "file": {"type": "array", "minItems": 1, "items": {"type": "string", "format": "binary"},
                 "description": "One part per file, each with its filename (the file's name: NFC, 1-255 "
                                f"bytes of UTF-8, no /, \\ or control characters, not . or ..; at most "
                                f"{MAX_NAME_BYTES} bytes), sent as is (no Content-Transfer-Encoding)"},
    },
}
assert set(_FORM["properties"]) == set(FORM_FIELDS)
_ITEMS = {"type": "object", "required": ["items"], "additionalProperties": False,
          "properties": {"items": {"type": "array", "minItems": 1, "items": _FILE}}}
# What a client calls next with a file's id (added to the answers that make or show a file; POST
# /v2/files has none: its two shapes, a folder or the files' items, have no one place for an id).
ON_A_FILE_CONTENT = {
    "GetContentV2": {"operationId": "getContentV2", "parameters": {"id": "$response.body#/id"}},
    "ReplaceContentV2": {"operationId": "replaceContentV2", "parameters": {"id": "$response.body#/id"}},
}

_TOO_LARGE = coded_error("A file over storage.max_file_size (10 GiB by default), found from the Content-Length "
                         "or as its bytes arrive; a JSON body over its own limit", ("File too large", "file_too_large"),
                         (f"Request body too large: Maximum request body size {JSON_BODY_LIMIT} exceeded, actual "
                          f"body size {JSON_BODY_LIMIT + 1}", "too_large"))
_STORAGE_FULL = coded_error("Over the user's quota (storage.default_quota or their own; over both limits is 413), "
                            "or no room left on the disk", ("Quota exceeded", "quota_exceeded"),
                            ("Insufficient storage", "insufficient_storage"))
_NOT_FOUND = coded_error("No such live file for this caller (another user's looks the same; a malformed id is "
                         "simply not found)", ("Not found", "not_found"))

PATHS: Json = {
    "/v2/files": {"post": operation(
        "createFileV2", "Make a folder (JSON), or upload files (a multipart form)", tag=TAG, security=TOKEN,
        description=f"A folder: a JSON body of at most {JSON_BODY_LIMIT} bytes. Files: `multipart/form-data`, "
                    "the fields first, then one or more `file` parts, streamed to disk as they arrive and "
                    "hashed on the way; all of them are stored or none. Each file is held to "
                    "storage.max_file_size (413) and all of them to the user's quota (507), up front when "
                    "the Content-Length tells, else while the bytes arrive. Parts with other names are "
                    f"refused; everything but the files' bytes may take {FRAMING_LIMIT} bytes. `type` comes "
                    "from the bytes: `image` for JPEG, PNG, GIF, WebP, BMP and TIFF (they get their "
                    "thumbnails job), `file` otherwise. Not held to server.max_body_size (v1's). A failed "
                    "request leaves nothing behind.",
        body={"required": True, "content": {
            "multipart/form-data": {"schema": _FORM, "encoding": {"file": {"contentType": "application/octet-stream"}}},
            "application/json": {"schema": _FOLDER, "examples": {
                "folder": {"value": {"name": "Photos", "type": "folder"}},
                "inside": {"value": {"name": "2026", "type": "folder", "parentId": 0, "isPublic": True}}}},
        }},
        responses={
            "201": json_answer("Created: a folder's document, or the files' (in the form's order)",
                               {"oneOf": [_FILE, _ITEMS]}),
            "400": coded_error("Invalid input: a name, a parent that is not one of the caller's live folders, a "
                               "form without files, a file part without filename, a truncated or malformed body",
                               ("Invalid name", "invalid"), ("Parent not found", "invalid"),
                               ("Parent is not a folder", "invalid"), ("Missing file", "invalid"),
                               ("Missing filename", "invalid"), ("Invalid isPublic: expected true or false", "invalid"),
                               ("Invalid type: only a folder is created from JSON; upload files as "
                                "multipart/form-data", "invalid"),
                               ("Invalid multipart body: parentId and isPublic come before the files", "invalid"),
                               ("Incomplete request body: the connection broke mid-body", "invalid"),
                               ("Invalid JSON body: expected an object", "invalid")),
            "401": UNAUTHORIZED, "408": BODY_TIMEOUT, "413": _TOO_LARGE,
            "415": coded_error("Neither JSON nor a multipart form",
                               ("Unsupported Media Type", "unsupported_media_type")),
            "503": UNAVAILABLE, "507": _STORAGE_FULL,
        },
    )},
    "/v2/files/{id}/content": {
        "get": operation(
            "getContentV2", "The content, or a thumbnail; a public file needs no token", tag=TAG,
            security=TOKEN_OPTIONAL,
            description="As GET /files/{id}/data (the same checks in the same order, Range, ETag, 304, the "
                        "safe-serving headers); Content-Type is guessed from the name, text types with "
                        "`charset=utf-8`. A trashed file is not found.",
            parameters=[
                ID_PARAM,
                {"name": "size", "in": "query", "required": False, "schema": {"enum": list(THUMBNAIL_SIZES)},
                 "description": "An image's thumbnail of this width (404 until the worker made it)"},
                {"name": "download", "in": "query", "required": False, "schema": {"enum": list(DOWNLOAD_VALUES)},
                 "description": "1 or true: Content-Disposition attachment"},
                *CONDITIONAL_HEADERS,
            ],
            responses={
                **CONTENT_ANSWERS,
                "400": coded_error("A folder, or an invalid size or download",
                                   ("A folder doesn't have content", "invalid"),
                                   ("Invalid size: use 500, 250 or 100", "invalid"),
                                   ("Invalid download: use 1 or 0", "invalid")),
                "404": _NOT_FOUND,
                "503": UNAVAILABLE,
            },
        ),
        "put": operation(
            "replaceContentV2", "Replace a file's content with the body", tag=TAG, security=TOKEN,
            description="The body, whatever its Content-Type, is the new content: streamed to disk, hashed, "
                        "its type and media type found again, the thumbnails remade. Held to "
                        "storage.max_file_size (413) and the quota (507, counting the difference), up front "
                        "when the Content-Length tells. A failed request changes nothing.",
            parameters=[ID_PARAM],
            body={"required": False, "description": "No body: the file becomes empty", "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
            responses={
                "200": json_answer("The file's document with its new content", _FILE, links=ON_A_FILE),
                "400": coded_error("A folder, or a body cut short", ("A folder doesn't have content", "invalid"),
                                   ("Incomplete request body: the connection broke mid-body", "invalid")),
                "401": UNAUTHORIZED, "404": _NOT_FOUND, "408": BODY_TIMEOUT, "413": _TOO_LARGE,
                "503": UNAVAILABLE, "507": _STORAGE_FULL,
            },
        ),
    },
}
