"""The v1 operations (files-api.md, frozen, plus what api-v2.md adds on its
paths), as served: every status each can answer, and exactly the inputs
each accepts, so that schemathesis's positive and negative requests agree with
the handlers (tests/api/test_openapi_schemathesis.py)."""

from __future__ import annotations

from shared.blobs import THUMBNAIL_WIDTHS
from shared.domain.accounts import MAX_GIVEN_EMAIL_LENGTH, MAX_GIVEN_PASSWORD_LENGTH
from shared.storage import FILE_TYPES, PAGE_SIZE

from ..bodies import JSON_BODY_LIMIT
from ..routes.files import MAX_NAME_LENGTH
from ..serving import DOWNLOAD_VALUES
from .parts import (
    BASIC,
    BODY_TIMEOUT,
    CONDITIONAL_HEADERS,
    CONTENT_ANSWERS,
    ID_PARAM,
    INSUFFICIENT_STORAGE,
    NOT_FOUND,
    TOKEN,
    TOKEN_OPTIONAL,
    TOO_LARGE,
    TOO_MANY_ATTEMPTS,
    UNAUTHORIZED,
    UNAVAILABLE,
    Json,
    empty_answer,
    error,
    json_answer,
    json_body,
    operation,
    ref,
)

TAG = "v1"
# GETs whose HEAD is refused (405): a HEAD must not log in or out.
NO_HEAD = ("/connect", "/disconnect")

# Base64 as the upload scanner takes it (json_upload.py, base64_stream.py): the
# alphabet in whole quanta, `=` padding only at the end, ASCII whitespace anywhere.
_SPACE = "[\\t\\n\\v\\f\\r ]*"
_B64 = f"[A-Za-z0-9+/]{_SPACE}"
BASE64_PATTERN = f"^{_SPACE}(?:{_B64 * 4})*(?:{_B64 * 2}={_SPACE}={_SPACE}|{_B64 * 3}={_SPACE})?$"

SCHEMAS: Json = {
    "User": {"type": "object", "required": ["id", "email"], "additionalProperties": False,
             "properties": {"id": ref("schemas", "Id"), "email": {"type": "string", "minLength": 1}}},
    "File": {
        "type": "object",
        "required": ["id", "userId", "name", "type", "isPublic", "parentId"],
        "additionalProperties": False,
        "properties": {
            "id": ref("schemas", "Id"),
            "userId": ref("schemas", "Id"),
            "name": {"type": "string"},
            "type": {"enum": list(FILE_TYPES)},
            "isPublic": {"type": "boolean"},
            "parentId": {"anyOf": [{"const": 0}, {"type": "string"}],
                         "description": "0 at the root (or \"0\" if a document written by another tool "
                                        "says so), else the parent folder's id"},
        },
    },
}

_FILE = ref("schemas", "File")
# An answer's file, for the operations on it (OpenAPI links: what a client, or
# schemathesis's stateful phase, calls next with the id it got).
_ON_THE_FILE = {
    name: {"operationId": op, "parameters": {"id": "$response.body#/id"}}
    for name, op in (("GetFile", "getFile"), ("GetFileData", "getFileData"),
                     ("PublishFile", "publishFile"), ("UnpublishFile", "unpublishFile"))
}
_LIST_CHILDREN = {"ListChildren": {"operationId": "listFiles", "parameters": {"parentId": "$response.body#/id"}}}


def _text(max_length: int) -> Json:
    return {"type": "string", "minLength": 1, "maxLength": max_length}


_PARENT_REF = {
    "description": "The folder it goes in: 0, \"0\", \"\", null or false mean the root (the original's "
                   "`parentId || 0`); else one of the caller's folders, by id (another id, or anything "
                   "else: 400 Parent not found)",
    "anyOf": [{"enum": [0, "0", "", None, False]}, {"type": "string", "pattern": "^[0-9a-fA-F]{24}$"}],
    "default": 0,
}

_UPLOAD = {
    "type": "object",
    "required": ["name", "type"],
    "properties": {
        "name": {**_text(MAX_NAME_LENGTH), "description": "Any text; never used as a path on disk"},
        "type": {"enum": list(FILE_TYPES)},
        "parentId": _PARENT_REF,
        "isPublic": {"type": ["boolean", "null"], "default": False, "description": "null means false"},
    },
    # A folder's `data` is ignored, whatever it is; a file or an image needs it.
    "anyOf": [
        {"properties": {"type": {"const": "folder"}}},
        {"required": ["data"],
         "properties": {"type": {"enum": [t for t in FILE_TYPES if t != "folder"]},
                        "data": {"type": "string", "minLength": 1, "contentEncoding": "base64",
                                 "pattern": BASE64_PATTERN,
                                 "description": "The content in base64 (padded; whitespace ignored), "
                                                "streamed to disk as it arrives"}}},
    ],
}

PATHS: Json = {
    "/status": {"get": operation(
        "getStatus", "Whether Redis and the database answer", tag=TAG,
        responses={"200": json_answer("Always 200, so a load balancer can read which backend is down", {
            "type": "object", "required": ["redis", "db"], "additionalProperties": False,
            "properties": {"redis": {"type": "boolean"}, "db": {"type": "boolean"}}})},
    )},
    "/stats": {"get": operation(
        "getStats", "How many users and files (folders included)", tag=TAG,
        responses={"200": json_answer("The counts", {
            "type": "object", "required": ["users", "files"], "additionalProperties": False,
            "properties": {"users": {"type": "integer", "minimum": 0}, "files": {"type": "integer", "minimum": 0}}}),
            "503": UNAVAILABLE},
    )},
    "/users": {"post": operation(
        "createUser", "Sign up", tag=TAG,
        description=f"Refused (403) at once when security.signup is closed. Then checked in this order: "
                    f"email, password, then the sign-up limit per client address "
                    f"(429), then whether the email is taken. The body is at most {JSON_BODY_LIMIT} bytes; "
                    "an empty body is `{}`. Members other than email and password are ignored.",
        body=json_body({"type": "object", "required": ["email", "password"], "properties": {
            "email": {**_text(MAX_GIVEN_EMAIL_LENGTH),
                      "description": "Compared trimmed and case-folded: A@X.IO and a@x.io are one account"},
            "password": _text(MAX_GIVEN_PASSWORD_LENGTH)}},
            {"signUp": {"email": "bob@dylan.com", "password": "toto1234!"}}),
        responses={"201": json_answer("Created; a welcome job is enqueued", ref("schemas", "User")),
                   "400": error("Invalid input, or the email is taken", "Missing email", "Missing password",
                                "Already exist", "Invalid email: expected a string",
                                "Invalid JSON body: expected an object"),
                   "403": error("Sign-up is closed (security.signup): only the operator adds users",
                                "Sign-up is closed"),
                   "408": BODY_TIMEOUT, "413": TOO_LARGE, "429": TOO_MANY_ATTEMPTS, "503": UNAVAILABLE,
                   "507": INSUFFICIENT_STORAGE},
    )},
    "/users/me": {"get": operation(
        "getMe", "The caller", tag=TAG, security=TOKEN,
        responses={"200": json_answer("The user", ref("schemas", "User")), "401": UNAUTHORIZED,
                   "503": UNAVAILABLE},
    )},
    "/connect": {"get": operation(
        "connect", "Log in: Basic credentials for a token", tag=TAG, security=BASIC,
        description="Failed logins are counted per (account, client address) and per client address; "
                    "past the limit every attempt is 429 until the window ends, a right password too. "
                    "HEAD is not answered (405): it must not mint tokens. A user carried over from the "
                    "original has its SHA1 digest replaced on this login (a database write: 503/507).",
        responses={"200": json_answer("A new token", {
            "type": "object", "required": ["token"], "additionalProperties": False,
            "properties": {"token": {"type": "string", "minLength": 1}}}),
            "401": error("Unknown user, wrong password, or a malformed Authorization header", "Unauthorized"),
            "429": TOO_MANY_ATTEMPTS, "503": UNAVAILABLE, "507": INSUFFICIENT_STORAGE},
    )},
    "/disconnect": {"get": operation(
        "disconnect", "Log out: the token stops working at once, in every process", tag=TAG, security=TOKEN,
        description="HEAD is not answered (405): it must not log anyone out.",
        responses={"204": empty_answer("Logged out"), "401": UNAUTHORIZED, "503": UNAVAILABLE},
    )},
    "/files": {
        "post": operation(
            "createFile", "Create a folder, or upload a file or an image (base64 in JSON)", tag=TAG,
            security=TOKEN,
            description="The token is checked first, then (once the body is in) name, type, data, parentId, "
                        "then the types of what was given. The body is streamed: up to server.max_body_size "
                        "bytes, data decoded to disk as it arrives. A failed request leaves nothing behind.",
            body=json_body(_UPLOAD, {
                "folder": {"name": "images", "type": "folder"},
                "file": {"name": "hello.txt", "type": "file", "data": "SGVsbG8gV2Vic3RhY2shCg==", "parentId": 0},
                "publicFile": {"name": "notes.txt", "type": "file", "data": "bm90ZXMK", "isPublic": True}}),
            responses={
                "201": json_answer("Created; an image gets a thumbnails job", _FILE,
                                   links={**_ON_THE_FILE, **_LIST_CHILDREN}),
                "400": error("Invalid input, or a parent that is not one of the caller's folders",
                             "Missing name", "Missing type", "Missing data", "Parent not found",
                             "Parent is not a folder", "Invalid data: not base64",
                             "Invalid data: expected a base64 string", "Invalid JSON body: expected an object",
                             f"Invalid name: expected a string of at most {MAX_NAME_LENGTH} characters",
                             "Invalid isPublic: expected true or false"),
                "401": UNAUTHORIZED, "408": BODY_TIMEOUT, "413": TOO_LARGE, "503": UNAVAILABLE,
                "507": INSUFFICIENT_STORAGE},
        ),
        "get": operation(
            "listFiles", f"The caller's files in a folder, {PAGE_SIZE} per page", tag=TAG, security=TOKEN,
            parameters=[
                {"name": "parentId", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "0 (the default), \"\" or a folder's id; an unknown id gives []"},
                {"name": "page", "in": "query", "required": False,
                 "schema": {"type": "string", "pattern": "^[0-9]*$", "default": "0"},
                 "description": "Zero-based page number, in ASCII digits; empty means 0; past the last page: []"},
            ],
            responses={"200": json_answer("A page of files, in a stable order",
                                          {"type": "array", "maxItems": PAGE_SIZE, "items": _FILE}),
                       "400": error("A page that is not a whole number", "Invalid page: expected a whole number "
                                    "from 0"),
                       "401": UNAUTHORIZED, "503": UNAVAILABLE},
        ),
    },
    "/files/{id}": {"get": operation(
        "getFile", "One of the caller's files", tag=TAG, security=TOKEN, parameters=[ID_PARAM],
        responses={"200": json_answer("The file", _FILE, links=_ON_THE_FILE), "401": UNAUTHORIZED,
                   "404": NOT_FOUND, "503": UNAVAILABLE},
    )},
    "/files/{id}/publish": {"put": operation(
        "publishFile", "Make a file public", tag=TAG, security=TOKEN, parameters=[ID_PARAM],
        responses={"200": json_answer("The updated file (also when it was public already)", _FILE),
                   "401": UNAUTHORIZED, "404": NOT_FOUND, "503": UNAVAILABLE, "507": INSUFFICIENT_STORAGE},
    )},
    "/files/{id}/unpublish": {"put": operation(
        "unpublishFile", "Make a file private", tag=TAG, security=TOKEN, parameters=[ID_PARAM],
        responses={"200": json_answer("The updated file (also when it was private already)", _FILE),
                   "401": UNAUTHORIZED, "404": NOT_FOUND, "503": UNAVAILABLE, "507": INSUFFICIENT_STORAGE},
    )},
    "/files/{id}/data": {"get": operation(
        "getFileData", "The content, or a thumbnail; a public file needs no token", tag=TAG,
        security=TOKEN_OPTIONAL,
        description="Checked in this order: the file (404, for a folder too), a folder (400), size, "
                    "download, then the content on disk (404). Content-Type is guessed from the name "
                    "(application/octet-stream when unknown), a thumbnail's too.",
        parameters=[
            ID_PARAM,
            {"name": "size", "in": "query", "required": False,
             "schema": {"enum": [str(w) for w in THUMBNAIL_WIDTHS]},
             "description": "An image's thumbnail of this width (404 until the worker made it)"},
            {"name": "download", "in": "query", "required": False,
             "schema": {"enum": list(DOWNLOAD_VALUES)},
             "description": "1 or true: Content-Disposition attachment; 0, false or empty: the default"},
            *CONDITIONAL_HEADERS,
        ],
        responses={
            **CONTENT_ANSWERS,
            "400": error("A folder, or an invalid size or download", "A folder doesn't have content",
                         "Invalid size: use 500, 250 or 100", "Invalid download: use 1 or 0"),
            "404": NOT_FOUND,
            "503": UNAVAILABLE,
        },
    )},
    "/openapi.json": {"get": operation(
        "getOpenApi", "This document", tag=TAG,
        responses={"200": json_answer("OpenAPI 3.1", {"type": "object", "required": ["openapi", "paths"]})},
    )},
}
