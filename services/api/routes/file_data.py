"""GET /files/:id/data: the content (or a thumbnail), streamed from disk, with
the safe-serving headers of content_headers.py (`?download=1` for attachment).
How it is sent (Range, ETag/304, zero-copy) is serving.py's."""

from __future__ import annotations

from aiohttp import web

from shared.errors import NotFound

from ..auth import optional_user
from ..content_headers import content_headers, content_type_for
from ..keys import STORAGE
from ..serving import content_response, require_content, thumbnail_width, wants_download

routes = web.RouteTableDef()


@routes.get("/files/{id}/data")
async def file_data(request: web.Request) -> web.StreamResponse:
    user = await optional_user(request)
    record = await request.app[STORAGE].file_readable_by(
        user.id if user else None, request.match_info["id"]
    )
    if record is None:
        raise NotFound()
    require_content(record)  # before the query's complaints, as v1 always did
    width, download = thumbnail_width(request.query), wants_download(request.query)
    return await content_response(
        request, record, width,
        {
            # v1: the type guessed from the name, no charset (a thumbnail too)
            **content_headers(record.name, content_type_for(record.name), download=download),
            "Cache-Control": "public, max-age=0" if record.is_public else "private, max-age=0",
        },
    )
