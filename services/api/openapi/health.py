"""GET /livez and GET /readyz (routes/health.py): for load balancers and orchestrators."""

from __future__ import annotations

from .parts import Json, json_answer, operation

TAG = "health"

_BACKENDS: Json = {
    "type": "object", "required": ["redis", "db", "blobs"], "additionalProperties": False,
    "properties": {"redis": {"type": "boolean", "description": "Redis answered PING"},
                   "db": {"type": "boolean", "description": "The database answered (reads, and took its write "
                                                            "lock)"},
                   "blobs": {"type": "boolean", "description": "The content folder took a file"}}}
_DRAINING: Json = {"type": "object", "required": ["draining"], "additionalProperties": False,
                   "properties": {"draining": {"const": True}}}

PATHS: Json = {
    "/livez": {"get": operation(
        "getLivez", "Whether this worker serves requests", tag=TAG,
        description="Checks no backend: an outage of Redis or the database does not make it fail, so an "
                    "orchestrator does not restart every worker for it.",
        responses={"200": json_answer("The worker serves", {
            "type": "object", "required": ["live"], "additionalProperties": False,
            "properties": {"live": {"const": True}}})},
    )},
    "/readyz": {"get": operation(
        "getReadyz", "Whether this worker can serve now", tag=TAG,
        description="Every backend is asked at once and has server.readiness_timeout seconds to answer, so "
                    "the answer comes within that time whatever is down. 503 as soon as the worker starts "
                    "draining (a stop or an upgrade), before it stops accepting: a load balancer stops sending "
                    "here first. Nothing is cached: 200 again as soon as the backend is back.",
        responses={"200": json_answer("Every backend answered", {**_BACKENDS, "properties": {
                       name: {**schema, "const": True} for name, schema in _BACKENDS["properties"].items()}}),
                   "503": json_answer("A backend did not answer in time (false), or the worker is draining",
                                      {"anyOf": [_BACKENDS, _DRAINING]})},
    )},
}
