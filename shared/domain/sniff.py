"""What a file is, from its first bytes (never from its name): an image the
worker can read, or any other file.

`type` is `image` only for the formats the thumbnail worker opens
(services/worker/thumbnails.py ALLOWED_FORMATS: JPEG and its multi-picture
MPO, PNG, GIF, WebP, BMP, TIFF), recognised by their magic numbers, so a text
file called `cat.png` is a `file` and a PNG called `notes.txt` an `image`.
The magic is all that is checked: a damaged or oversized image (a truncated
JPEG, a decompression bomb) is still an `image`, and the worker refuses to
decode it (the job is dead-lettered, `hasThumbnails` stays false).

Other files get a media type guessed from the name (Python's built-in table
only, so the answer never depends on the host's /etc/mime.types).
"""

from __future__ import annotations

import mimetypes
from typing import Literal

# Bytes of the content's start that `kind_of` needs (WebP's chunk tag ends at 16, BMP's header size at 18).
HEAD_SIZE = 32

# BITMAPCOREHEADER, BITMAPINFOHEADER and its successors, OS/2 2.x: the DIB
# header sizes Pillow's BMP reader accepts.
_BMP_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})
_TIFF_PREFIXES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF, both byte orders
_WEBP_CHUNKS = (b"VP8 ", b"VP8L", b"VP8X")

_MIME = mimetypes.MimeTypes(filenames=())
DEFAULT_TYPE = "application/octet-stream"

Kind = Literal["file", "image"]


def image_type(head: bytes) -> str | None:
    """The media type of an image the worker can read, from its first bytes; None otherwise."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP" and head[12:16] in _WEBP_CHUNKS:
        return "image/webp"
    if head.startswith(b"BM") and len(head) >= 18 and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        return "image/bmp"
    if head.startswith(_TIFF_PREFIXES):
        return "image/tiff"
    return None


def content_type_for(name: str) -> str:
    """The media type guessed from a name, without parameters (v1's Content-Type rule)."""
    guessed, _ = _MIME.guess_type(name, strict=False)
    return guessed or DEFAULT_TYPE


def kind_of(head: bytes, name: str) -> tuple[Kind, str]:
    """(`image` or `file`, its media type): from the bytes for an image, else from the name."""
    found = image_type(head)
    if found is not None:
        return "image", found
    return "file", content_type_for(name)
