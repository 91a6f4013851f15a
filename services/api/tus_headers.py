"""The tus 1.0.0 protocol's headers (tus.io, "Resumable upload protocol"): what
the server announces, and strict parsers for what clients send.

Every parser refuses rather than guesses: a malformed header is a clear 400
(Invalid) naming the header, never a 500 and never a silent default, since a
wrong offset or length would corrupt an upload that a client believes intact.
Nothing here touches storage or bytes; routes/tus.py applies the answers.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import re

from aiohttp import web

from shared.domain.uploads import CHECKSUM_ALGORITHMS
from shared.errors import Invalid, UnsupportedMediaType, UnsupportedVersion

TUS_VERSION = "1.0.0"
# Announced in Tus-Extension: exactly what routes/tus.py implements
# (no creation-defer-length, concatenation or checksum-trailer).
EXTENSIONS = "creation,creation-with-upload,termination,expiration,checksum"
CHECKSUMS = ",".join(CHECKSUM_ALGORITHMS)
CHUNK_TYPE = "application/offset+octet-stream"

# Header names, one spelling each.
TUS_RESUMABLE = "Tus-Resumable"
UPLOAD_OFFSET = "Upload-Offset"
UPLOAD_LENGTH = "Upload-Length"
UPLOAD_METADATA = "Upload-Metadata"
UPLOAD_EXPIRES = "Upload-Expires"
UPLOAD_CHECKSUM = "Upload-Checksum"
UPLOAD_DEFER_LENGTH = "Upload-Defer-Length"
METHOD_OVERRIDE = "X-HTTP-Method-Override"
FILE_ID = "File-Id"  # ours: the file a completed upload became (api-v2.md)

# An Upload-Metadata header past this is refused: the keys we read hold a name
# of at most 255 bytes (340 in base64), an id and a boolean.
MAX_METADATA_BYTES = 4096
MAX_METADATA_KEYS = 32
# 2**63 - 1 has 19 digits: anything longer is no offset or length we could store.
_UINT = re.compile(r"[0-9]{1,19}")
_KEY = re.compile(r"[!-+\--~]+")  # visible ASCII but comma (0x2c): no space, no comma


def discovery_headers(max_size: int) -> dict[str, str]:
    """The OPTIONS answer's headers (Tus-Resumable is added to every answer)."""
    return {
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": EXTENSIONS,
        "Tus-Max-Size": str(max_size),
        "Tus-Checksum-Algorithm": CHECKSUMS,
    }


def check_version(request: web.Request) -> None:
    """Every request but OPTIONS names the protocol version it speaks (412 otherwise)."""
    if request.headers.get(TUS_RESUMABLE) != TUS_VERSION:
        raise UnsupportedVersion()


def check_chunk_type(request: web.Request) -> None:
    if request.content_type != CHUNK_TYPE:
        raise UnsupportedMediaType()


def has_body(request: web.Request) -> bool:
    """Whether the request carries body bytes (announced, or chunked)."""
    length = request.content_length
    return (length is not None and length > 0) or (length is None and request.body_exists)


def uint_header(request: web.Request, name: str, *, required: bool = True) -> int | None:
    """A non-negative integer header: ASCII digits only (int() would take
    `+5`, ` 5`, `5_0` and other scripts' digits)."""
    raw = request.headers.getall(name, [])
    if not raw:
        if required:
            raise Invalid(f"Missing {name} header")
        return None
    if len(raw) > 1 or not _UINT.fullmatch(raw[0]):
        raise Invalid(f"Invalid {name} header: expected one non-negative integer")
    value = int(raw[0])
    if value >= 2**63:
        raise Invalid(f"Invalid {name} header: expected one non-negative integer")
    return value


def upload_length(request: web.Request) -> int:
    """Upload-Length of a creation request. Deferring the length is not offered."""
    if UPLOAD_DEFER_LENGTH in request.headers:
        raise Invalid("Upload-Defer-Length is not supported: send Upload-Length")
    length = uint_header(request, UPLOAD_LENGTH)
    assert length is not None
    return length


def parse_metadata(request: web.Request) -> dict[str, bytes]:
    """Upload-Metadata: comma-separated `key base64value` pairs, keys unique,
    a value possibly empty (its space then optional). Values are returned as
    bytes: what they mean is the domain's business (shared/domain/uploads.py)."""
    raw = request.headers.getall(UPLOAD_METADATA, [])
    if not raw:
        return {}
    if len(raw) > 1:
        raise Invalid("Invalid Upload-Metadata header: sent more than once")
    header = raw[0]
    if len(header.encode("utf-8", "surrogateescape")) > MAX_METADATA_BYTES:
        raise Invalid(f"Invalid Upload-Metadata header: longer than {MAX_METADATA_BYTES} bytes")
    pairs: dict[str, bytes] = {}
    for element in header.split(","):
        element = element.strip(" \t")
        key, _, value = element.partition(" ")
        if not _KEY.fullmatch(key) or " " in value:
            raise Invalid("Invalid Upload-Metadata header: expected `key base64value` pairs separated by commas")
        if key in pairs:
            raise Invalid(f"Invalid Upload-Metadata header: key {key!r} given twice")
        pairs[key] = _base64(value, f"Invalid Upload-Metadata header: the value of {key!r} is not base64")
        if len(pairs) > MAX_METADATA_KEYS:
            raise Invalid(f"Invalid Upload-Metadata header: more than {MAX_METADATA_KEYS} keys")
    return pairs


def encode_metadata(pairs: dict[str, str]) -> str:
    """The Upload-Metadata a HEAD answers with (values base64, so no header smuggling)."""
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in pairs.items())


def parse_checksum(request: web.Request) -> tuple[str, bytes] | None:
    """Upload-Checksum `algorithm base64digest`, or None when absent. An
    algorithm we do not offer is 400 (checksum extension), as is a digest of
    the wrong length for its algorithm."""
    raw = request.headers.getall(UPLOAD_CHECKSUM, [])
    if not raw:
        return None
    if len(raw) > 1:
        raise Invalid("Invalid Upload-Checksum header: sent more than once")
    algorithm, _, encoded = raw[0].strip().partition(" ")
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise Invalid(f"Unsupported checksum algorithm: use one of {CHECKSUMS}")
    digest = _base64(encoded.strip(), "Invalid Upload-Checksum header: the checksum is not base64")
    if len(digest) != CHECKSUM_ALGORITHMS[algorithm]().digest_size:
        raise Invalid(f"Invalid Upload-Checksum header: not a {algorithm} checksum")
    return algorithm, digest


def method_of(request: web.Request) -> str:
    """The method a POST to an upload URL stands for (X-HTTP-Method-Override),
    for clients whose HTTP stack cannot send PATCH or DELETE."""
    override = request.headers.get(METHOD_OVERRIDE)
    return override.upper() if override else request.method


def http_date(epoch_seconds: float) -> str:
    """RFC 7231 IMF-fixdate, as Upload-Expires wants."""
    return email.utils.formatdate(epoch_seconds, usegmt=True)


def _base64(value: str, message: str) -> bytes:
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise Invalid(message) from None
