"""GET /metrics on the main port: the node's Prometheus text, for the holder
of `metrics.token` (Authorization: Bearer). Without a token set, not found,
as an unknown path is: the route does not show that it exists.

(`metrics.port`, served by the master without a token, is shared/metrics/server.py.)"""

from __future__ import annotations

import hmac

from aiohttp import web

from shared.metrics.directory import metrics_directory

from ..errors import error_response
from ..keys import REDIS, SETTINGS
from ..metrics import recording

routes = web.RouteTableDef()

_BEARER = "bearer "
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="metrics"'}


def _as_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")  # a header's undecodable bytes, as sent


def bearer_matches(authorization: str | None, token: str) -> bool:
    """Whether the header carries `token`, compared in constant time."""
    if authorization is None or authorization[:7].lower() != _BEARER:
        return False
    return hmac.compare_digest(_as_bytes(authorization[7:].strip()), _as_bytes(token))


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.StreamResponse:
    token = request.app[SETTINGS].metrics.token
    directory = metrics_directory()
    if not token or directory is None or not recording():
        raise web.HTTPNotFound()
    if not bearer_matches(request.headers.get("Authorization"), token):
        return error_response(401, "Unauthorized", headers=CHALLENGE)
    # Here, not at the top: prometheus_client is loaded only by processes that serve metrics.
    from shared.metrics.exposition import CONTENT_TYPE
    from shared.metrics.scrape import scrape

    body = await scrape(directory, request.app[REDIS])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
