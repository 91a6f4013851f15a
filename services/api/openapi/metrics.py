"""GET /metrics (routes/metrics.py): the node's figures for Prometheus, for
the holder of metrics.token."""

from __future__ import annotations

from ..routes.metrics import CHALLENGE
from .parts import Json, error, header, operation, with_request_id

TAG = "operations"
SCHEME = "metricsToken"

SECURITY_SCHEMES: Json = {
    SCHEME: {"type": "http", "scheme": "bearer",
             "description": "metrics.token (METRICS_TOKEN) of the service, as `Authorization: Bearer <token>`"},
}

PATHS: Json = {
    "/metrics": {"get": operation(
        "getMetrics", "The node's metrics, in Prometheus's text format", tag=TAG, security=[{SCHEME: []}],
        description="Every process of the node summed (the master and all its workers, those replaced "
                    "since it started included): requests by route template, method and status, their "
                    "durations, upload and download bytes, jobs by kind and outcome, the queue, the "
                    "children, their restarts and resident memory. Served here only when metrics.token is "
                    "set (else 404, as any unknown path); metrics.port serves the same text without a token.",
        responses={
            "200": {"description": "The figures (text exposition format 0.0.4)",
                    "headers": with_request_id(),
                    "content": {"text/plain": {"schema": {"type": "string"}}}},
            "401": error("No Bearer token, or not metrics.token", "Unauthorized", headers={
                "WWW-Authenticate": header("The scheme to use", {"const": CHALLENGE["WWW-Authenticate"]})}),
            "404": error("metrics.token is not set: not served on this port", "Not found"),
        },
    )},
}
