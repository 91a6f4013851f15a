"""GET /openapi.json: the API as served, in OpenAPI 3.1.

The document is data kept beside the routes, one module per surface (v1.py;
v2's, the web app's ui.py), assembled here. It stays true by test: every route of
`create_app`'s router is documented and every documented operation is routed
(tests/api/test_openapi.py), and schemathesis checks every status, header and
body the live service answers against it, and that it accepts exactly the
inputs documented (tests/api/test_openapi_schemathesis.py).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from . import health, metrics, ui, v1, v2_accounts, v2_files, v2_links, v2_upload, v2_uploads
from .parts import COMPONENTS, Json

routes = web.RouteTableDef()

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Files Manager",
        "version": "1.0.0",
        "description": (
            "Users, tokens, files and folders, public sharing and thumbnails. Every error body is "
            "{\"error\": \"<message>\"}. Every answer carries X-Request-Id (send your own, 1-128 of "
            "[A-Za-z0-9._:-], to find the request's log line). Every GET also answers HEAD, except "
            f"{' and '.join(v1.NO_HEAD)}. Unknown paths are 404 and unknown methods 405 (with Allow). "
            "Unknown query parameters are ignored, and so are unknown body members on v1. A client that does "
            "not send its whole request head within server.header_timeout seconds is disconnected without an "
            "answer."
        ),
    },
    "tags": [{"name": "v1", "description": "The original files manager's contract, kept to the letter"},
             {"name": v2_accounts.TAG, "description": "Sign-up, sessions, the caller, password changes; "
                                                     "errors carry a stable `code`"},
             {"name": v2_files.TAG, "description": "Lists, search, rename, move, trash, restore, delete for "
                                                   "good; errors carry a stable `code`"},
             {"name": v2_links.TAG, "description": "Share links: the owner's and the public /s/ pages; "
                                                   "errors carry a stable `code`"},
             {"name": v2_uploads.TAG, "description": "Resumable uploads: tus 1.0.0 (creation, "
                                                     "creation-with-upload, termination, expiration, checksum); "
                                                     "errors carry a stable `code`"},
             {"name": ui.TAG, "description": "The web app: its page and its versioned assets (for browsers)"},
             {"name": metrics.TAG, "description": "For the people who run it: the node's metrics"},
             {"name": health.TAG, "description": "Liveness and readiness, for load balancers and orchestrators"}],
    "components": {**COMPONENTS, "schemas": {**COMPONENTS["schemas"], **v1.SCHEMAS, **v2_accounts.SCHEMAS,
                                             **v2_files.SCHEMAS, **v2_links.SCHEMAS}},
    "paths": {},
}
SPEC["components"]["securitySchemes"] = {**COMPONENTS["securitySchemes"], **metrics.SECURITY_SCHEMES}


def _add_paths(paths: Json) -> None:
    """A surface's operations, beside the others' on a shared path (GET and POST /v2/files)."""
    for path, operations in paths.items():
        here = SPEC["paths"].setdefault(path, {})
        assert not set(here) & set(operations), f"{path} documented twice"
        here.update(operations)


for _surface in (v1.PATHS, v2_accounts.PATHS, v2_files.PATHS, v2_links.PATHS, v2_upload.PATHS,
                 v2_uploads.PATHS, ui.PATHS, metrics.PATHS, health.PATHS):
    _add_paths(_surface)
# A file made on v1 is a v2 document too: what a client may do with it there.
SPEC["paths"]["/files"]["post"]["responses"]["201"]["links"].update(v2_files.ON_A_FILE, **v2_links.ON_A_FILE,
                                                                    **v2_upload.ON_A_FILE_CONTENT)
SPEC["paths"]["/v2/files/{id}"]["get"]["responses"]["200"]["links"].update(v2_upload.ON_A_FILE_CONTENT)

_BODY = orjson.dumps(SPEC)


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=_BODY, content_type="application/json")
