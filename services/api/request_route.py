"""What a log line or a metric calls a request: its route's template
(`/files/{id}`), never the raw path, which may hold a secret (a share link's
token) and would make a label per file."""

from __future__ import annotations

from aiohttp import web

UNMATCHED = "(unmatched)"  # no route: the raw path is never a label (nor logged)


def route_of(request: web.BaseRequest) -> str:
    """The route's template (`/files/{id}`), never the raw path."""
    match_info = request.match_info if isinstance(request, web.Request) else None
    if match_info is None:  # the request failed before routing (a malformed head)
        return UNMATCHED
    resource = match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED
