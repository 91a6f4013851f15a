"""A file's content (or a thumbnail) as an answer: v1 `/files/:id/data`, v2
`/v2/files/:id/content`, and share links, once the caller has found a file
it may read.

Checked in this order (v1's): a folder (400), `size`, `download`, then the
content on disk (404). The bytes are streamed from disk with the
safe-serving headers of content_headers.py (`?download=1` for attachment):
aiohttp's FileResponse answers Range requests with 206 and sends
ETag/Last-Modified with 304 on a match; our subclass sends with zero-copy
sendfile on uvloop too (services/api/sendfile.py).
"""

from __future__ import annotations

import os
import stat

from aiohttp import web

from shared.blobs import THUMBNAIL_WIDTHS, thumbnail_path
from shared.domain.sniff import content_type_for
from shared.errors import Invalid, NotFound
from shared.storage import FileRecord

from .content_headers import content_headers
from .sendfile import ZeroCopyFileResponse

_THUMBNAIL_SIZES = {str(width): width for width in THUMBNAIL_WIDTHS}
DOWNLOAD_VALUES = {"1": True, "true": True, "0": False, "false": False, "": False}


def served_type(name: str, *, charset: bool) -> str:
    """The Content-Type: guessed from the name (the v1 rule); text types
    carry `charset=utf-8` when `charset` (v2 and share links)."""
    content_type = content_type_for(name)
    if charset and content_type.startswith("text/"):
        return f"{content_type}; charset=utf-8"
    return content_type


def content_response(request: web.Request, record: FileRecord, *, charset: bool) -> web.StreamResponse:
    """The answer for a file the caller may read (the caller has checked that)."""
    if record.type == "folder":
        raise Invalid("A folder doesn't have content")
    size = request.query.get("size")
    if size is not None and size not in _THUMBNAIL_SIZES:
        raise Invalid("Invalid size: use 500, 250 or 100")
    download = DOWNLOAD_VALUES.get(request.query.get("download", ""))
    if download is None:
        raise Invalid("Invalid download: use 1 or 0")
    if not record.local_path:
        raise NotFound()
    path = record.local_path if size is None else thumbnail_path(record.local_path, _THUMBNAIL_SIZES[size])
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise NotFound()
    except OSError:
        raise NotFound() from None
    return ZeroCopyFileResponse(
        path,
        headers={
            # the type guessed from the name, a thumbnail's too
            **content_headers(record.name, served_type(record.name, charset=charset), download=download),
            "Cache-Control": "public, max-age=0" if record.is_public else "private, max-age=0",
        },
    )
