"""A file's type from its first bytes, never from its name (api-v2.md): `image`
when they open a format the thumbnail worker reads, else `file`.

Minimal: the signatures of the raster formats the worker handles. The MIME
type of a non-image is guessed from the name (as v1 does for Content-Type);
serving decides from it only whether to show inline, never what runs.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass

HEAD_BYTES = 64  # enough for every signature below

_MIME = mimetypes.MimeTypes(filenames=())  # the built-in table, not the host's /etc/mime.types
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"BM", 0, "image/bmp"),
)


@dataclass(frozen=True, slots=True)
class Sniffed:
    type: str  # "image" or "file"
    mime_type: str


def sniff(head: bytes, name: str) -> Sniffed:
    """`head`: the content's first HEAD_BYTES bytes (fewer for a short file)."""
    for signature, at, mime in _SIGNATURES:
        if head[at:at + len(signature)] == signature:
            return Sniffed("image", mime)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed("image", "image/webp")
    guessed, _ = _MIME.guess_type(name, strict=False)
    if guessed is None or guessed.startswith("image/"):  # an image by name only is not one
        guessed = "application/octet-stream"
    return Sniffed("file", guessed)
