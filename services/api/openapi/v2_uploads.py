"""Resumable uploads, tus 1.0.0 at /v2/uploads, as served (routes/tus.py,
tus_headers.py): discovery, creation (with a first chunk or not), HEAD,
PATCH, termination, and POST with X-HTTP-Method-Override. Every status each
can answer; the protocol's request headers as header parameters, written as
strictly as the parsers read them, and its answer headers (Tus-Resumable on
every answer, errors included).

What OpenAPI cannot say, and the schemathesis hooks know: Upload-Metadata
values are base64 (the filename must decode to a valid name, keys must not
repeat); Upload-Offset must be the upload's offset now; a chunk must fit in
what is left of Upload-Length and match its Upload-Checksum."""

from __future__ import annotations

from shared.domain.uploads import CHECKSUM_ALGORITHMS, FILENAME, IS_PUBLIC, PARENT_ID
from shared.errors import ChecksumMismatch, QuotaExceeded, TooLarge, UnsupportedMediaType, UnsupportedVersion

from ..routes.tus import BASE, UPLOAD
from ..tus_headers import (
    CHECKSUMS,
    CHUNK_TYPE,
    EXTENSIONS,
    FILE_ID,
    MAX_METADATA_BYTES,
    MAX_METADATA_KEYS,
    METHOD_OVERRIDE,
    TUS_RESUMABLE,
    TUS_VERSION,
    UPLOAD_CHECKSUM,
    UPLOAD_DEFER_LENGTH,
    UPLOAD_EXPIRES,
    UPLOAD_LENGTH,
    UPLOAD_METADATA,
    UPLOAD_OFFSET,
)
from .parts import COMPONENTS, ID_PATTERN, V2_TOKEN, Json, coded_error, empty_answer, header, operation

TAG = "v2 uploads"
MAX_UINT = 2**63 - 1  # the largest Upload-Length or Upload-Offset read (19 digits)
_UPLOAD_URL = "^/v2/uploads/[0-9a-f]{24}$"
_HTTP_DATE = ("^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
              "[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$")

# ---- Upload-Metadata and Upload-Checksum, as tus_headers.py parses them
_OWS = "[ \\t]*"
_KEY = "[!-+\\--~]+"  # visible ASCII but the comma
_QUANTUM = "[A-Za-z0-9+/]{4}"
_LAST = "[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}="
_B64 = f"(?:{_QUANTUM})*(?:{_LAST})?"
_B64_NOT_EMPTY = f"(?:{_QUANTUM})*(?:{_QUANTUM}|{_LAST})"
METADATA_PATTERN = (f"^{_OWS}{FILENAME} {_B64_NOT_EMPTY}{_OWS}"
                    f"(?:,{_OWS}{_KEY}(?: {_B64})?{_OWS}){{0,{MAX_METADATA_KEYS - 1}}}$")


def _digest_b64(size: int) -> str:
    """The base64 of `size` bytes, padded."""
    quanta, rest = divmod(size, 3)
    tail = {0: "", 1: "[A-Za-z0-9+/]{2}==", 2: "[A-Za-z0-9+/]{3}="}[rest]
    return f"(?:{_QUANTUM}){{{quanta}}}{tail}"


CHECKSUM_PATTERN = "^(?:" + "|".join(
    f"{name} {_OWS}{_digest_b64(algorithm().digest_size)}" for name, algorithm in CHECKSUM_ALGORITHMS.items()
) + f"){_OWS}$"

# ---- Answers: every one carries Tus-Resumable
_TUS_RESUMABLE = header("The protocol version of the answer: on every answer under /v2/uploads, errors too",
                        {"const": TUS_VERSION})
_TUS_VERSION = header("The protocol versions this server speaks", {"const": TUS_VERSION})


def _tus(answer: Json, headers: Json | None = None) -> Json:
    """`answer` with Tus-Resumable (and `headers`) among its headers."""
    return {**answer, "headers": {**answer.get("headers", {}), TUS_RESUMABLE: _TUS_RESUMABLE, **(headers or {})}}


def _error(description: str, *answers: tuple[str, str], headers: Json | None = None) -> Json:
    return _tus(coded_error(description, *answers), headers)


_SHARED = COMPONENTS["responses"]
_UNAUTHORIZED = _tus(_SHARED["V2Unauthorized"])
_BODY_TIMEOUT = _tus(_SHARED["V2BodyTimeout"])
_UNAVAILABLE = _tus(_SHARED["V2Unavailable"])
_DISK_FULL = _tus(_SHARED["V2InsufficientStorage"])
_NOT_FOUND = _error("No such upload of the caller: unknown, another user's, terminated, unfinished past "
                    "Upload-Expires, or its bytes gone (an id that is not 24 hex digits is simply not found)",
                    ("Upload not found", "not_found"), ("Upload not found: its bytes are gone", "not_found"))
_WRONG_VERSION = _error("Tus-Resumable is missing or not 1.0.0: nothing was done",
                        (UnsupportedVersion.message, UnsupportedVersion.code),
                        headers={"Tus-Version": _TUS_VERSION})
_WRONG_TYPE = _error(f"A chunk's Content-Type must be {CHUNK_TYPE}", (UnsupportedMediaType.message,
                                                                      UnsupportedMediaType.code))
_PAST_LENGTH = ("Request body too large: Maximum request body size 10 exceeded, actual body size 11", "too_large")
_MISMATCH = _error(f"The chunk does not match its {UPLOAD_CHECKSUM}: dropped, the offset is where it was",
                   (ChecksumMismatch.message, ChecksumMismatch.code))
_BUSY = ("Another request is writing this upload", "conflict")
_INCOMPLETE = ("Incomplete request body: the connection broke mid-body", "invalid")
_CHECKSUM_ERRORS = ((f"Unsupported checksum algorithm: use one of {CHECKSUMS}", "invalid"),
                    (f"Invalid {UPLOAD_CHECKSUM} header: not a sha1 checksum", "invalid"))
_OFFSET_ERRORS = ((f"Missing {UPLOAD_OFFSET} header", "invalid"),
                  (f"Invalid {UPLOAD_OFFSET} header: expected one non-negative integer", "invalid"))


def _offset_header(description: str) -> Json:
    return header(description, {"type": "integer", "minimum": 0, "maximum": MAX_UINT})


_EXPIRES = header("When the unfinished upload is forgotten with its bytes (uploads.expiry after its creation); "
                  "absent once it became a file", {"type": "string", "pattern": _HTTP_DATE}, required=False)
_FILE_ID = header("The file the upload became: on the answer that completed it and on every later one (never "
                  "before; a retried last PATCH learns the same file)", {"type": "string", "pattern": ID_PATTERN},
                  required=False)
_PROGRESS = {UPLOAD_OFFSET: _offset_header("Bytes of the upload stored so far"), UPLOAD_EXPIRES: _EXPIRES,
             FILE_ID: _FILE_ID}

# ---- Request parameters
_VERSION_PARAM = {"name": TUS_RESUMABLE, "in": "header", "required": True, "schema": {"const": TUS_VERSION},
                  "description": "The protocol version the client speaks; missing or another: 412"}
_UPLOAD_ID = {"name": "upload_id", "in": "path", "required": True, "schema": {"type": "string"},
              "description": "From the creation's Location; anything else is simply not found",
              "examples": {"unknown": {"summary": "Well-formed, no such upload: 404", "value": "0" * 24}}}
_OFFSET_PARAM = {"name": UPLOAD_OFFSET, "in": "header", "required": True,
                 "schema": {"type": "integer", "minimum": 0, "maximum": MAX_UINT},
                 "description": "Where the chunk goes: the upload's offset now (HEAD says it), else 409. ASCII "
                                "digits only"}
_CHECKSUM_PARAM = {"name": UPLOAD_CHECKSUM, "in": "header", "required": False,
                   "schema": {"type": "string", "pattern": CHECKSUM_PATTERN},
                   "description": f"`<algorithm> <base64 digest>` of this chunk ({CHECKSUMS}): a chunk that does "
                                  "not match is dropped (460); one that does not arrive whole keeps nothing"}
# Read only when there is a chunk: any string is taken otherwise, so the document cannot hold it to
# its format there (the description does).
_CHECKSUM_WITH_A_BODY = {**_CHECKSUM_PARAM, "schema": {"type": "string"},
                         "description": f"With a body only, as a PATCH's `{UPLOAD_CHECKSUM}` (`<algorithm> <base64 "
                                        f"digest>`, {CHECKSUMS}; malformed: 400, not matching: 460); without "
                                        "one, not read"}
_CHUNK = {"required": True, "content": {CHUNK_TYPE: {"schema": {"type": "string", "format": "binary"}}}}

_CHUNK_NOTES = (
    f"The chunk goes at Upload-Offset, which must be the upload's offset now (409 otherwise, and while another "
    f"request writes the same upload). Bytes past Upload-Length: 413, the chunk dropped. Without "
    f"{UPLOAD_CHECKSUM}, a chunk cut short (the client gone, or silent for server.body_timeout) keeps the bytes "
    f"that arrived; with it, nothing unless the whole chunk came and matches (460 otherwise). The answer that "
    f"completes the upload names the new file in {FILE_ID} (sent again by any later PATCH or HEAD); a PATCH at the "
    f"end with an empty body is the way to ask again.")


def _chunk_responses() -> Json:
    return {
        "204": _tus(empty_answer("The chunk is stored (every byte on disk before the offset moves)"), _PROGRESS),
        "400": _error("A malformed header, or a body whose framing broke (a bad chunk of a chunked body)",
                      *_OFFSET_ERRORS, *_CHECKSUM_ERRORS, _INCOMPLETE),
        "401": _UNAUTHORIZED, "404": _NOT_FOUND, "408": _BODY_TIMEOUT,
        "409": _error("Upload-Offset is not the upload's offset, or another request is writing it",
                      ("Upload-Offset 0 is not the upload's offset 5", "conflict"), _BUSY),
        "412": _WRONG_VERSION,
        "413": _error("The chunk goes past Upload-Length: dropped", _PAST_LENGTH),
        "415": _WRONG_TYPE, "460": _MISMATCH, "503": _UNAVAILABLE, "507": _DISK_FULL,
    }


_TERMINATE_RESPONSES: Json = {
    "204": _tus(empty_answer("Forgotten, with its bytes (a finished upload's file stays)")),
    "401": _UNAUTHORIZED, "404": _NOT_FOUND,
    "409": _error("Another request is writing the upload", _BUSY),
    "412": _WRONG_VERSION, "503": _UNAVAILABLE, "507": _DISK_FULL,
}

_DISCOVERY = {
    "204": _tus(empty_answer("What this server speaks", {
        "Tus-Version": _TUS_VERSION,
        "Tus-Extension": header("The extensions offered", {"const": EXTENSIONS}),
        "Tus-Max-Size": header("The largest Upload-Length taken: storage.max_file_size",
                               {"type": "integer", "minimum": 1}),
        "Tus-Checksum-Algorithm": header("The Upload-Checksum algorithms offered", {"const": CHECKSUMS}),
    })),
    "401": _UNAUTHORIZED, "503": _UNAVAILABLE,
}


def _discovery(operation_id: str, where: str) -> Json:
    return operation(operation_id, f"tus discovery ({where}): the version, extensions, size limit and checksums",
                     tag=TAG, security=V2_TOKEN, description="Tus-Resumable is not needed here (the protocol "
                     "says the server ignores it); the token is.",
                     parameters=[_UPLOAD_ID] if where != BASE else None, responses=_DISCOVERY)


_METADATA_PARAM = {
    "name": UPLOAD_METADATA, "in": "header", "required": True,
    "schema": {"type": "string", "maxLength": MAX_METADATA_BYTES, "pattern": METADATA_PATTERN},
    "description": f"Comma-separated `key base64value` pairs, each key once, at most {MAX_METADATA_KEYS} and "
                   f"{MAX_METADATA_BYTES} bytes. `{FILENAME}` (required): the file's name, valid as a v2 name; "
                   f"`{PARENT_ID}`: 0 (the root, the default) or one of the caller's live folders; `{IS_PUBLIC}`: "
                   "true or false (the default). Other keys (a client's filetype, say) are ignored.",
    "examples": {"named": {"summary": "filename report.pdf", "value": f"{FILENAME} cmVwb3J0LnBkZg=="}},
}

PATHS: Json = {
    BASE: {
        "options": _discovery("discoverUploads", BASE),
        "post": operation(
            "createUpload", "Create an upload (creation), with its first chunk or all of it in the body "
            "(creation-with-upload)", tag=TAG, security=V2_TOKEN,
            description=f"Checked in this order: Tus-Resumable (412), the token (401), Upload-Length (400; over "
                        f"Tus-Max-Size 413), Upload-Metadata (400), a body's Content-Type (415) and "
                        f"{UPLOAD_CHECKSUM} (400), the parent (400), the quota against Upload-Length (507, before a "
                        f"byte is written). {UPLOAD_DEFER_LENGTH} is not offered (400). A body is the first chunk: "
                        f"as a PATCH at 0, but a body that breaks off keeps nothing (nobody knows the upload yet). "
                        f"An upload of length 0, or a body carrying the whole file, is a file at once ({FILE_ID}).",
            parameters=[_VERSION_PARAM,
                        {"name": UPLOAD_LENGTH, "in": "header", "required": True,
                         "schema": {"type": "integer", "minimum": 0, "maximum": MAX_UINT},
                         "description": "The file's size in bytes, ASCII digits; over Tus-Max-Size "
                                        "(storage.max_file_size): 413"},
                        _METADATA_PARAM, _CHECKSUM_WITH_A_BODY],
            body={**_CHUNK, "required": False},
            responses={
                "201": _tus(empty_answer("Created: the upload's URL in Location", {
                    "Location": header("The upload's URL, for HEAD, PATCH and DELETE",
                                       {"type": "string", "pattern": _UPLOAD_URL}), **_PROGRESS})),
                "400": _error("A malformed or missing header, metadata the service does not take, or a parent "
                              "that is not one of the caller's live folders",
                              (f"Missing {UPLOAD_LENGTH} header", "invalid"),
                              (f"Invalid {UPLOAD_LENGTH} header: expected one non-negative integer", "invalid"),
                              (f"{UPLOAD_DEFER_LENGTH} is not supported: send {UPLOAD_LENGTH}", "invalid"),
                              (f"Missing {FILENAME} in {UPLOAD_METADATA}", "invalid"), ("Invalid name", "invalid"),
                              (f"Invalid {UPLOAD_METADATA} header: key 'a' given twice", "invalid"),
                              ("Invalid isPublic: expected true or false", "invalid"),
                              ("Parent not found", "invalid"), ("Parent is not a folder", "invalid"),
                              *_CHECKSUM_ERRORS, _INCOMPLETE),
                "401": _UNAUTHORIZED, "408": _BODY_TIMEOUT, "412": _WRONG_VERSION,
                "413": _error("Upload-Length over Tus-Max-Size (storage.max_file_size), or a body past "
                              "Upload-Length: nothing is kept", (TooLarge.message, TooLarge.code), _PAST_LENGTH),
                "415": _WRONG_TYPE, "460": _MISMATCH, "503": _UNAVAILABLE,
                "507": _error("Upload-Length would take the caller past their quota (live, trashed and "
                              "unfinished uploads' bytes), or no room left on the disk or in the database",
                              (QuotaExceeded.message, QuotaExceeded.code),
                              ("Insufficient storage", "insufficient_storage")),
            },
        ),
    },
    UPLOAD: {
        "options": _discovery("discoverUpload", UPLOAD),
        "head": operation(
            "getUploadOffset", "Where an upload stands: its offset, length and metadata", tag=TAG,
            security=V2_TOKEN, parameters=[_VERSION_PARAM, _UPLOAD_ID],
            description=f"An upload whose bytes all came but whose file was not made (the request that completed "
                        f"it died) is finished here, and the answer names the file ({FILE_ID}).",
            responses={
                "200": _tus(empty_answer("The upload", {
                    UPLOAD_LENGTH: _offset_header("The upload's size"),
                    UPLOAD_METADATA: header(
                        "The stored metadata, normalised, values base64",
                        {"type": "string", "pattern": f"^{FILENAME} {_B64_NOT_EMPTY},{PARENT_ID} {_B64_NOT_EMPTY},"
                                                      f"{IS_PUBLIC} (dHJ1ZQ==|ZmFsc2U=)$"}),
                    "Cache-Control": header("Never from a cache", {"const": "no-store"}), **_PROGRESS})),
                "401": _UNAUTHORIZED, "404": _NOT_FOUND, "412": _WRONG_VERSION, "503": _UNAVAILABLE,
                "507": _DISK_FULL,
            },
        ),
        "patch": operation(
            "uploadChunk", "Send the next chunk", tag=TAG, security=V2_TOKEN,
            description="Checked in this order: Tus-Resumable (412), the token (401), Content-Type (415), "
                        f"Upload-Offset and {UPLOAD_CHECKSUM} (400), the upload (404), the offset (409). "
                        + _CHUNK_NOTES,
            parameters=[_VERSION_PARAM, _UPLOAD_ID, _OFFSET_PARAM, _CHECKSUM_PARAM], body=_CHUNK,
            responses=_chunk_responses(),
        ),
        "delete": operation(
            "terminateUpload", "Terminate an upload: it and its bytes are gone (404 from now on)", tag=TAG,
            security=V2_TOKEN, parameters=[_VERSION_PARAM, _UPLOAD_ID], responses=_TERMINATE_RESPONSES,
        ),
        "post": operation(
            "overrideUploadMethod", f"PATCH or DELETE for clients that cannot send them ({METHOD_OVERRIDE})",
            tag=TAG, security=V2_TOKEN,
            description=f"Answered as the method {METHOD_OVERRIDE} names (in any case): a PATCH reads "
                        f"Upload-Offset and {UPLOAD_CHECKSUM} as a PATCH does (their formats are the PATCH's: "
                        "here they depend on the method named); a DELETE reads neither, nor the body. Any other "
                        "method: 405.",
            parameters=[_VERSION_PARAM, _UPLOAD_ID,
                        {"name": METHOD_OVERRIDE, "in": "header", "required": True,
                         "schema": {"type": "string",
                                    "pattern": "^(?:[Pp][Aa][Tt][Cc][Hh]|[Dd][Ee][Ll][Ee][Tt][Ee])$"},
                         "description": "PATCH or DELETE"},
                        {**_OFFSET_PARAM, "required": False, "schema": {"type": "string"},
                         "description": "PATCH: as a PATCH's (required, ASCII digits: 400 otherwise); DELETE: not "
                                        "read"},
                        {**_CHECKSUM_PARAM, "schema": {"type": "string"},
                         "description": f"PATCH: as a PATCH's `{UPLOAD_CHECKSUM}`; DELETE: not read"}],
            body=_CHUNK,
            responses={**_chunk_responses(), "204": _tus(empty_answer("Done: a PATCH's answer, or a DELETE's (no "
                                                                      "Upload-Offset then)", {
                **_PROGRESS, UPLOAD_OFFSET: {**_PROGRESS[UPLOAD_OFFSET], "required": False}})),
                       "405": _error(f"{METHOD_OVERRIDE} names neither PATCH nor DELETE",
                                     ("Method not allowed", "method_not_allowed"),
                                     headers={"Allow": header("The methods of an upload URL", {"type": "string"})})},
        ),
    },
}
