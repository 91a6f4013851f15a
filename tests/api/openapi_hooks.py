"""Schemathesis hooks for tests/api/test_openapi_schemathesis.py (loaded by
`st run` through SCHEMATHESIS_HOOKS; the test passes the service's URL and
the account in the environment).

- Auth: the token operations get a token of the test's account, logged in
  again whenever an answer is 401 (schemathesis's own GET /disconnect revokes
  it); /connect gets the account's Basic credentials. The logins come through
  X-Forwarded-For from an address of their own (the service trusts 127.0.0.1
  as a proxy), so schemathesis's random failed logins, which reach the
  per-address limit (429), never lock the hook out.
- A schema-valid request may still get a 400 that depends on the server's
  state (a taken email, a parent that is not a folder, a cursor not from the
  list's previous page) or on a rule OpenAPI cannot state (a name's limit in
  UTF-8 bytes, parameters that do not go together): those messages, and only
  those, are accepted for valid input.
- Every operation must answer 2xx at least once in the run: a run that never
  got past 401 or 404 tested nothing.
"""

from __future__ import annotations

import base64
import os

import requests
import schemathesis

URL = os.environ["FM_OPENAPI_URL"]
EMAIL = os.environ["FM_OPENAPI_EMAIL"]
PASSWORD = os.environ["FM_OPENAPI_PASSWORD"]
HOOK_ADDRESS = os.environ["FM_OPENAPI_HOOK_ADDRESS"]
BASIC = "Basic " + base64.b64encode(f"{EMAIL}:{PASSWORD}".encode()).decode()

# Answers a request valid by the document can get because of what the server
# holds, not because of the request's shape (the v1 contract says 400, not 409),
# or because of a rule the document cannot state (see the operation's description).
STATE_DEPENDENT_400 = {
    "POST /users": {"Already exist"},
    "POST /files": {"Parent not found", "Parent is not a folder"},
    "GET /files/{id}/data": {"A folder doesn't have content"},
    "GET /v2/files": {"Invalid cursor", "Parent is not a folder", "Invalid query: give parentId or q, not both"},
    "GET /v2/trash": {"Invalid cursor"},
    "PATCH /v2/files/{id}": {"Parent not found", "Parent is not a folder", "Cannot move a folder into itself",
                             "Invalid name"},
    # ... and the order of a form's parts: its fields come before its files.
    "POST /v2/files": {"Parent not found", "Parent is not a folder", "Invalid name",
                       "Invalid multipart body: parentId and isPublic come before the files"},
    "GET /v2/files/{id}/content": {"A folder doesn't have content"},
    "PUT /v2/files/{id}/content": {"A folder doesn't have content"},
}


def _schemes(case) -> set[str]:
    requirements = case.operation.definition.raw.get("security") or []
    return {name for requirement in requirements for name in requirement}


@schemathesis.auth()
class LoginWhenNeeded:
    def get(self, case, ctx) -> str:
        resp = requests.get(f"{URL}/connect", headers={"Authorization": BASIC, "X-Forwarded-For": HOOK_ADDRESS},
                            timeout=30)
        resp.raise_for_status()
        return resp.json()["token"]

    def set(self, case, data: str, ctx) -> None:
        schemes = _schemes(case)
        if "token" in schemes:
            case.headers["X-Token"] = data
        elif "basic" in schemes:
            case.headers["Authorization"] = BASIC


@schemathesis.check
def only_state_dependent_400_for_valid_input(ctx, response, case) -> None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return
    message = response.json().get("error")
    allowed = STATE_DEPENDENT_400.get(case.operation.label, set())
    if message not in allowed:
        raise AssertionError(f"A request valid by the document got 400 {message!r}; "
                             f"only {sorted(allowed)} may depend on the server's state")


@schemathesis.check
class EveryOperationSucceedsOnce:
    """The run reached every operation's logic: each answered 2xx at least once."""

    def __init__(self) -> None:
        self.tested: set[str] = set()
        self.succeeded: set[str] = set()

    def after_response(self, ctx, response, case) -> None:
        self.tested.add(case.operation.label)
        if 200 <= response.status_code < 300:
            self.succeeded.add(case.operation.label)

    def after_run(self, ctx) -> None:
        never = self.tested - self.succeeded
        if never:
            raise AssertionError("never answered 2xx: " + ", ".join(sorted(never)))
