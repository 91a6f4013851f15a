"""GET /files/:id/data: the content (or a thumbnail), streamed from disk, with
the safe-serving headers of content_headers.py (`?download=1` for attachment).

aiohttp's FileResponse streams (never a whole-file read), answers Range
requests with 206, and sends ETag/Last-Modified with 304 on a match; our
subclass sends with zero-copy sendfile on uvloop too (services/api/sendfile.py).
"""

from __future__ import annotations

import os
import stat

from aiohttp import web

from shared.blobs import THUMBNAIL_WIDTHS, thumbnail_path
from shared.errors import Invalid, NotFound

from ..auth import optional_user
from ..content_headers import content_headers, content_type_for
from ..keys import STORAGE
from ..sendfile import ZeroCopyFileResponse

routes = web.RouteTableDef()

_THUMBNAIL_SIZES = {str(width): width for width in THUMBNAIL_WIDTHS}
DOWNLOAD_VALUES = {"1": True, "true": True, "0": False, "false": False, "": False}


@routes.get("/files/{id}/data")
async def file_data(request: web.Request) -> web.StreamResponse:
    user = await optional_user(request)
    record = await request.app[STORAGE].file_readable_by(
        user.id if user else None, request.match_info["id"]
    )
    if record is None:
        raise NotFound()
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
            # v1: the type guessed from the name, no charset (a thumbnail too)
            **content_headers(record.name, content_type_for(record.name), download=download),
            "Cache-Control": "public, max-age=0" if record.is_public else "private, max-age=0",
        },
    )
