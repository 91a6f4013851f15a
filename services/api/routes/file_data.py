"""GET /files/:id/data: the content (or a thumbnail) of a file the caller may
read: their own, or anyone's public one (content_response.py serves it)."""

from __future__ import annotations

from aiohttp import web

from shared.errors import NotFound

from ..auth import optional_user
from ..content_response import content_response
from ..keys import STORAGE

routes = web.RouteTableDef()


@routes.get("/files/{id}/data")
async def file_data(request: web.Request) -> web.StreamResponse:
    user = await optional_user(request)
    record = await request.app[STORAGE].file_readable_by(
        user.id if user else None, request.match_info["id"]
    )
    if record is None:
        raise NotFound()
    return content_response(request, record, charset=False)  # v1: no charset
