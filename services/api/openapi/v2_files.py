"""The v2 files operations as served (routes/v2_files.py): lists and search,
one file with its path, rename/move/publish, trash, restore, purge. Every
status each can answer; the inputs each accepts, as far as OpenAPI can say
(a name's limit is in UTF-8 bytes, not characters; parentId and q do not go
together; a cursor must come from the list's previous page: the schemathesis
hooks know these)."""

from __future__ import annotations

from shared.storage import FILE_TYPES

from ..bodies import JSON_BODY_LIMIT
from ..list_params import LIMIT_MESSAGE, MAX_LIMIT, SORT_MESSAGE, SORTS
from ..routes.v2_files import PATCH_FIELDS, PERMANENT_VALUES
from .parts import (
    BODY_TIMEOUT,
    CURSOR_PARAM,
    ID_PARAM,
    ID_PATTERN,
    INSUFFICIENT_STORAGE,
    LIMIT_PARAM,
    NAME,
    NULLABLE_TIME,
    TIME,
    TOKEN,
    TOO_LARGE,
    UNAUTHORIZED,
    UNAVAILABLE,
    UNKNOWN_ID,
    Json,
    coded_error,
    empty_answer,
    json_answer,
    json_body,
    operation,
    ref,
)

TAG = "v2 files"

SCHEMAS: Json = {
    "FileV2": {
        "type": "object",
        "required": ["id", "name", "type", "parentId", "isPublic", "size", "mimeType", "sha256", "createdAt",
                     "updatedAt", "trashedAt", "hasThumbnails"],
        "additionalProperties": False,
        "properties": {
            "id": ref("schemas", "Id"),
            "name": {"type": "string"},
            "type": {"enum": list(FILE_TYPES)},
            "parentId": {"anyOf": [{"const": 0}, ref("schemas", "Id")], "description": "0: the root"},
            "isPublic": {"type": "boolean"},
            "size": {"type": ["integer", "null"], "minimum": 0,
                     "description": "Bytes; 0 for a folder; null only for a document written by the original "
                                    "service whose content is gone from the disk"},
            "mimeType": {"type": ["string", "null"], "description": "From the content; null for a folder"},
            "sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$",
                       "description": "Of the content; null for a folder and a document written by the original"},
            "createdAt": TIME,
            "updatedAt": TIME,
            "trashedAt": {**NULLABLE_TIME, "description": "Set when the item is in the trash (itself or a "
                                                            "folder above it)"},
            "hasThumbnails": {"type": "boolean"},
        },
    },
    "FilePageV2": {
        "type": "object", "required": ["items", "next"], "additionalProperties": False,
        "properties": {
            "items": {"type": "array", "maxItems": MAX_LIMIT, "items": ref("schemas", "FileV2")},
            "next": {"type": ["string", "null"], "pattern": "^[A-Za-z0-9_-]+$",
                     "description": "The cursor of the next page; null on the last"},
        },
    },
}
_FILE = ref("schemas", "FileV2")
_PAGE = ref("schemas", "FilePageV2")
_WITH_PATH = {
    **SCHEMAS["FileV2"],
    "required": [*SCHEMAS["FileV2"]["required"], "path"],
    "properties": {**SCHEMAS["FileV2"]["properties"], "path": {
        "type": "array", "description": "The folders from the root down to the parent",
        "items": {"type": "object", "required": ["id", "name"], "additionalProperties": False,
                  "properties": {"id": ref("schemas", "Id"), "name": {"type": "string"}}}}},
}


_NOT_FOUND = coded_error("No such file for this caller (another user's looks the same; a malformed id is simply "
                         "not found)", ("Not found", "not_found"))
_LIST_ERRORS = (("Invalid cursor", "invalid"), (LIMIT_MESSAGE, "invalid"))
# What a client calls next with a file's id (OpenAPI links; schemathesis's stateful phase follows them).
ON_A_FILE = {
    name: {"operationId": op, "parameters": {"id": "$response.body#/id"}}
    for name, op in (("GetFileV2", "getFileV2"), ("UpdateFileV2", "updateFileV2"),
                     ("DeleteFileV2", "deleteFileV2"))
}
_AFTER_DELETE = {"RestoreFileV2": {"operationId": "restoreFileV2", "parameters": {"id": "$request.path.id"}}}

PATCH_BODY: Json = {
    "type": "object", "minProperties": 1, "additionalProperties": False,
    "properties": {
        "name": NAME,
        "parentId": {"anyOf": [{"const": 0}, {"const": "0"}, {"type": "string", "pattern": ID_PATTERN}],
                     "description": "0 or \"0\": the root; else one of the caller's live folders, not the "
                                    "item itself nor below it"},
        "isPublic": {"type": "boolean"},
    },
}
assert set(PATCH_BODY["properties"]) == set(PATCH_FIELDS)

PATHS: Json = {
    "/v2/files": {"get": operation(
        "listFilesV2", "A folder's live items, or a search by name across folders, a page at a time", tag=TAG,
        security=TOKEN,
        description="Folders first in every order, ties by id. Each page's `next` leads to the following one; "
                    "page 5,000 costs what page 1 costs. An empty parameter counts as absent; parentId and q "
                    "do not go together (400). Trashed items are never listed.",
        parameters=[
            {"name": "parentId", "in": "query", "required": False,
             "schema": {"type": "string", "pattern": "^(0|[0-9a-f]{24})?$", "default": "0"},
             "description": "0 (the default): the root; else one of the caller's live folders (404 otherwise)",
             "examples": {"root": {"value": "0"}, **UNKNOWN_ID}},
            {"name": "q", "in": "query", "required": False, "schema": {"type": "string"},
             "description": "Search: the caller's live items whose name contains it, case-insensitive"},
            {"name": "sort", "in": "query", "required": False,
             "schema": {"enum": ["", *SORTS], "default": "name"},
             "description": "name, updatedAt or size; a leading - for descending"},
            LIMIT_PARAM, CURSOR_PARAM,
        ],
        responses={"200": json_answer("A page", _PAGE),
                   "400": coded_error("A bad parameter, a cursor not from this list's previous page, parentId "
                                      "with q, or a parent that is a file", *_LIST_ERRORS, (SORT_MESSAGE, "invalid"),
                                      ("Invalid parentId: expected 0 or a folder id", "invalid"),
                                      ("Invalid query: give parentId or q, not both", "invalid"),
                                      ("Parent is not a folder", "invalid")),
                   "401": UNAUTHORIZED,
                   "404": coded_error("The folder is unknown, another user's or trashed", ("Not found", "not_found")),
                   "503": UNAVAILABLE},
    )},
    "/v2/files/{id}": {
        "get": operation(
            "getFileV2", "One of the caller's items, with its path; a trashed one too (trashedAt set)",
            tag=TAG, security=TOKEN, parameters=[ID_PARAM],
            responses={"200": json_answer("The document and its path", _WITH_PATH, links=ON_A_FILE),
                       "401": UNAUTHORIZED, "404": _NOT_FOUND, "503": UNAVAILABLE},
        ),
        "patch": operation(
            "updateFileV2", "Rename, move, publish", tag=TAG, security=TOKEN, parameters=[ID_PARAM],
            description=f"Any of {', '.join(PATCH_FIELDS)}, in one change; other members are refused. "
                        f"The body is at most {JSON_BODY_LIMIT} bytes. A trashed item is not found.",
            body=json_body(PATCH_BODY, {"rename": {"name": "report.pdf"}, "move": {"parentId": 0},
                                        "publish": {"isPublic": True}}),
            responses={"200": json_answer("The updated document", _FILE, links=ON_A_FILE),
                       "400": coded_error("Invalid input, or a target that is not one of the caller's live "
                                          "folders", ("Invalid name", "invalid"),
                                          ("Cannot move a folder into itself", "invalid"),
                                          ("Parent not found", "invalid"), ("Parent is not a folder", "invalid"),
                                          ("Invalid isPublic: expected true or false", "invalid"),
                                          ("Invalid parentId: expected 0 or a folder id", "invalid"),
                                          ("Nothing to update: give name, parentId, isPublic", "invalid")),
                       "401": UNAUTHORIZED, "404": _NOT_FOUND, "408": BODY_TIMEOUT, "413": TOO_LARGE,
                       "503": UNAVAILABLE, "507": INSUFFICIENT_STORAGE},
        ),
        "delete": operation(
            "deleteFileV2", "To the trash (a folder with everything below it), or gone for good", tag=TAG,
            security=TOKEN,
            parameters=[ID_PARAM, {"name": "permanent", "in": "query", "required": False,
                              "schema": {"enum": ["", *PERMANENT_VALUES], "default": "false"},
                              "description": "true or 1: delete for good, from the trash or not (the "
                                             "content is removed by a job)"}],
            responses={"204": empty_answer("Trashed, or deleted", None) | {"links": _AFTER_DELETE},
                       "400": coded_error("A bad permanent", ("Invalid permanent: use true or false", "invalid")),
                       "401": UNAUTHORIZED,
                       "404": coded_error("Not one of the caller's items; without permanent, also one in the "
                                          "trash already", ("Not found", "not_found")),
                       "503": UNAVAILABLE, "507": INSUFFICIENT_STORAGE},
        ),
    },
    "/v2/files/{id}/restore": {"post": operation(
        "restoreFileV2", "Back from the trash where it was (to the root if that folder is gone or trashed)",
        tag=TAG, security=TOKEN, parameters=[ID_PARAM],
        responses={"200": json_answer("The restored document", _FILE, links=ON_A_FILE),
                   "401": UNAUTHORIZED,
                   "404": coded_error("Not the top of one of the caller's deletions", ("Not found", "not_found")),
                   "503": UNAVAILABLE, "507": INSUFFICIENT_STORAGE},
    )},
    "/v2/trash": {
        "get": operation(
            "listTrashV2", "The tops of the caller's deletions, newest first, a page at a time", tag=TAG,
            security=TOKEN, parameters=[LIMIT_PARAM, CURSOR_PARAM],
            responses={"200": json_answer("A page", _PAGE),
                       "400": coded_error("A bad parameter, or a cursor not from the trash's previous page",
                                          *_LIST_ERRORS),
                       "401": UNAUTHORIZED, "503": UNAVAILABLE},
        ),
        "delete": operation(
            "emptyTrashV2", "Delete everything in the trash for good (the content is removed by jobs)",
            tag=TAG, security=TOKEN,
            responses={"204": empty_answer("Emptied"), "401": UNAUTHORIZED, "503": UNAVAILABLE,
                       "507": INSUFFICIENT_STORAGE},
        ),
    },
}
