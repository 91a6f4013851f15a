"""Serving a file's bytes (or a thumbnail): the one path shared by v1
`/files/:id/data`, v2 `/content` and `/s/` share links (`content_response`).

From the folder, aiohttp's FileResponse streams (never a whole-file read),
answers Range requests with 206, and sends ETag/Last-Modified with 304 on a
match; our subclass sends with zero-copy sendfile on uvloop too
(sendfile.py). From an object store, blob_response.py answers the same way,
streaming the object (the Range passed through), or, with
`blobs.redirect_downloads`, a 302 to a presigned URL. The headers that keep
content from running as a page of this origin are content_headers.py's.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping

from aiohttp import hdrs, web

from shared.blob_store import THUMBNAIL_WIDTHS, ServedAs, thumbnail_path
from shared.errors import Invalid, NotFound
from shared.storage import FileRecord

from .blob_response import BlobResponse, redirect_response
from .keys import BLOBS, SETTINGS
from .sendfile import ZeroCopyFileResponse

THUMBNAIL_SIZES = {str(width): width for width in THUMBNAIL_WIDTHS}
DOWNLOAD_VALUES = {"1": True, "true": True, "0": False, "false": False, "": False}
# Request headers whose answer depends on the blob's info before any byte is
# fetched (a 304, 412, 206 or 416): with none of them, a GET is the whole blob.
_DECIDED_BY_INFO = (hdrs.RANGE, hdrs.IF_MATCH, hdrs.IF_NONE_MATCH, hdrs.IF_MODIFIED_SINCE,
                    hdrs.IF_UNMODIFIED_SINCE, hdrs.IF_RANGE)


def thumbnail_width(query: Mapping[str, str]) -> int | None:
    """`?size=` as a thumbnail width (None: the content itself), or Invalid."""
    size = query.get("size")
    if size is None:
        return None
    if size not in THUMBNAIL_SIZES:
        raise Invalid("Invalid size: use 500, 250 or 100")
    return THUMBNAIL_SIZES[size]


def wants_download(query: Mapping[str, str]) -> bool:
    """`?download=1` (attachment whatever the type), or Invalid."""
    download = DOWNLOAD_VALUES.get(query.get("download", ""))
    if download is None:
        raise Invalid("Invalid download: use 1 or 0")
    return download


def require_content(record: FileRecord) -> None:
    """Invalid for a folder: it has no content to serve."""
    if record.type == "folder":
        raise Invalid("A folder doesn't have content")


def content_path(record: FileRecord, width: int | None) -> str:
    """Where the file's bytes (or its thumbnail of `width`) are on disk:
    NotFound when it has none (a folder, a document without a blob)."""
    if record.type == "folder" or not record.local_path:
        raise NotFound()
    return record.local_path if width is None else thumbnail_path(record.local_path, width)


def file_response(path: str, headers: Mapping[str, str]) -> web.StreamResponse:
    """The file at `path` with `headers`; NotFound when it is not a regular file
    (a thumbnail not made yet, a blob gone)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise NotFound()
    except OSError:
        raise NotFound() from None
    return ZeroCopyFileResponse(path, headers=headers)


async def content_response(request: web.Request, record: FileRecord, width: int | None,
                           headers: Mapping[str, str]) -> web.StreamResponse:
    """The file's content (or its thumbnail of `width`) with `headers`, from
    wherever blobs live; NotFound when there is none."""
    location = content_path(record, width)
    blobs = request.app[BLOBS]
    path = blobs.local_file(location)
    if path is not None:
        return file_response(path, headers)
    settings = request.app[SETTINGS].blobs
    if settings.redirect_downloads:
        await blobs.info(location)  # NotFound is still our 404, never the store's
        served = ServedAs(headers["Content-Type"], headers["Content-Disposition"],
                          headers.get("Cache-Control", "private, max-age=0"))
        url = await blobs.presigned_url(location, served, settings.presign_expiry)
        if url is not None:
            return redirect_response(url, headers)
    if request.method == hdrs.METH_GET and not any(name in request.headers for name in _DECIDED_BY_INFO):
        info, chunks = await blobs.open(location)  # the whole blob: one request to the store
        return BlobResponse(blobs, location, info, headers, chunks)
    return BlobResponse(blobs, location, await blobs.info(location), headers)
