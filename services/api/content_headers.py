"""The headers every response carrying a user's content gets (v1 `/data`, and
v2 `/content` and `/s/` share links), so that content someone uploaded can
never run as a page of this service's origin (api-v2.md, "Serving content
safely"):

- `X-Content-Type-Options: nosniff`: the browser keeps to the declared type;
- a `Content-Security-Policy` sandbox: even an HTML or SVG opened directly
  runs no script, submits no form and reaches nothing of the origin;
- `Content-Disposition: inline` only for types a browser shows without running
  code (raster images, plain text, audio, video); everything else, and any
  request with `?download=1`, is `attachment`, with the original name in
  RFC 6266 form (an ASCII fallback and the exact UTF-8 name).
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

from shared.domain.sniff import content_type_for

CONTENT_SECURITY_POLICY = (
    "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'"
)
INLINE_TYPES = frozenset({
    "image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp",
    "text/plain",
})
INLINE_FAMILIES = ("audio/", "video/")

# What RFC 5987 lets through unencoded in `filename*` (attr-char) beyond letters and digits.
_ATTR_CHARS = "!#$&+-.^_`|~"
# A file name longer than this (in UTF-8 bytes) is shortened in the header: no
# file system saves more, and header size limits stay far away.
MAX_FILENAME_BYTES = 255


__all__ = ["content_disposition", "content_headers", "content_type_for", "content_type_v2", "is_inline"]


def content_type_v2(name: str) -> str:
    """v2's Content-Type (`/content`, `/s/`): v1's, text types with `charset=utf-8`."""
    media = content_type_for(name)
    return f"{media}; charset=utf-8" if media.startswith("text/") else media


def is_inline(content_type: str) -> bool:
    """Whether a browser shows this type without running code."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media in INLINE_TYPES or media.startswith(INLINE_FAMILIES)


def content_disposition(name: str, inline: bool) -> str:
    """`inline` or `attachment`, with `filename="<ASCII>"; filename*=UTF-8''<exact>`."""
    name = _shortened(name)
    kind = "inline" if inline else "attachment"
    encoded = quote(name.encode("utf-8", "replace"), safe=_ATTR_CHARS)
    return f"{kind}; filename=\"{_ascii_fallback(name)}\"; filename*=UTF-8''{encoded}"


def content_headers(name: str, content_type: str, *, download: bool = False) -> dict[str, str]:
    """The safe-serving headers for content called `name` served as `content_type`."""
    return {
        "Content-Type": content_type,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "Content-Disposition": content_disposition(name, not download and is_inline(content_type)),
    }


def _ascii_fallback(name: str) -> str:
    """Accents dropped, anything else outside printable ASCII (and `"`, `\\`,
    `%` which some browsers decode) replaced by `_`."""
    decomposed = unicodedata.normalize("NFKD", name)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in kept)
    return fallback or "download"


def _shortened(name: str) -> str:
    """At most MAX_FILENAME_BYTES of UTF-8, keeping a short extension."""
    if not name:
        return "download"
    if len(name.encode("utf-8", "replace")) <= MAX_FILENAME_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    suffix = f".{ext}" if dot and stem and 0 < len(ext.encode("utf-8", "replace")) <= 16 else ""
    room = MAX_FILENAME_BYTES - len(suffix.encode("utf-8", "replace"))
    body = name[: len(name) - len(suffix)] if suffix else name
    cut = body.encode("utf-8", "replace")[:room].decode("utf-8", "ignore")
    return cut + suffix
