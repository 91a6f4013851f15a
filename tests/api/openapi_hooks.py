"""Schemathesis hooks for tests/api/test_openapi_schemathesis.py (loaded by
`st run` through SCHEMATHESIS_HOOKS; the test passes the service's URL and
the account in the environment).

- Auth: the token operations get a token of the test's account, logged in
  again whenever an answer is 401 (schemathesis's own GET /disconnect revokes
  it); /connect gets the account's Basic credentials. The logins come through
  X-Forwarded-For from an address of their own (the service trusts 127.0.0.1
  as a proxy), so schemathesis's random failed logins, which reach the
  per-address limit (429), never lock the hook out. GET /metrics gets the
  service's metrics.token (and, as explicit examples, that token and a wrong one).
- A schema-valid request may still get a 400 that depends on the server's
  state (a taken email, a parent that is not a folder, a cursor not from the
  list's previous page) or on a rule OpenAPI cannot state (a name's limit in
  UTF-8 bytes, parameters that do not go together): those messages, and only
  those, are accepted for valid input.
- Every operation must answer 2xx at least once in the run: a run that never
  got past 401 or 404 tested nothing.
- v2 accounts: schemathesis's own logins and password changes (wrong, nearly
  all) come from an address of their own too, so their failures never lock
  out the /connect it also tests from 127.0.0.1; every third valid request
  of those (and of the v2 sign-up, whose per-address limit v1's sign-ups use
  up) is made one that can succeed: the account's own credentials (the
  password "changed" to itself) from the hook's address, a sign-up from an
  address not seen before.
- Answers only a known file gives (its content, a range of it, 304, 412,
  416, a folder's 400, new content, a restore, a link revoked) are asked for
  by explicit examples on what the test prepared (a text file, a file in the
  trash, a folder, a link), not left to the chance of a generated id; so is
  POST /v2/files's 415 (a body neither JSON nor a form).
- Share links (/s/): schemathesis cannot make a token (a token is only ever
  seen inside a link's url), so the hook makes links of each kind once, under
  an account of its own that the run never touches: each answer of each /s/
  operation is an explicit example on them, and generated /s/ requests are
  sent to them too (chosen by the case, some keeping the generated token: 404),
  now and then with a conditional header.
- The web app (/ and /ui/): its page, fresh and not modified, and one of its
  assets at the version the page names (read from the page), fresh, not
  modified, and at a version that is not the current one.
- tus uploads (/v2/uploads): each answer of each operation is an explicit
  example on uploads of the test's account made for it (at 0 of 10 bytes,
  complete, or held by another writer: the hooks take the part's flock, as a
  PATCH in another process does, for the rest of the run). Generated requests
  to an upload URL go, chosen by the case, to a fresh upload (sometimes at its
  right offset), the others keep the generated id (404); some generated
  creations get a valid filename. Chunks are raw bytes (hypothesis's), sent
  as application/offset+octet-stream.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import re
import zlib

import requests
import schemathesis
from hypothesis import strategies as st

URL = os.environ["FM_OPENAPI_URL"]
EMAIL = os.environ["FM_OPENAPI_EMAIL"]
PASSWORD = os.environ["FM_OPENAPI_PASSWORD"]
HOOK_ADDRESS = os.environ["FM_OPENAPI_HOOK_ADDRESS"]
BASIC = "Basic " + base64.b64encode(f"{EMAIL}:{PASSWORD}".encode()).decode()
TEXT_FILE = os.environ["FM_OPENAPI_TEXT_FILE"]
TRASHED_FILE = os.environ["FM_OPENAPI_TRASHED_FILE"]
FOLDER = os.environ["FM_OPENAPI_FOLDER"]
LINK = os.environ["FM_OPENAPI_LINK"]  # a link to TEXT_FILE
UPLOAD_PARTS = os.environ["FM_OPENAPI_UPLOAD_PARTS"]  # the service's folder of tus part files
METRICS_TOKEN = os.environ["FM_OPENAPI_METRICS_TOKEN"]  # the service's metrics.token
# GET /metrics: the right token (200) and a wrong one (401), sent as built.
METRICS_EXAMPLES = [{"Authorization": f"Bearer {METRICS_TOKEN}"}, {"Authorization": "Bearer not-the-token"}]

# Per operation, the explicit examples on the prepared files: (path parameters, headers[, (media type, body)]).
_CONTENT_EXAMPLES = [({"id": TEXT_FILE}, {}),  # 200
                     ({"id": TEXT_FILE}, {"Range": "bytes=0-0"}),  # 206
                     ({"id": TEXT_FILE}, {"If-None-Match": "*"}),  # 304
                     ({"id": FOLDER}, {}),  # 400
                     ({"id": TEXT_FILE}, {"If-Match": '"other"'}),  # 412
                     ({"id": TEXT_FILE}, {"Range": "bytes=999-"})]  # 416
PREPARED_EXAMPLES = {
    "GET /files/{id}/data": _CONTENT_EXAMPLES,
    "GET /v2/files/{id}/content": _CONTENT_EXAMPLES,
    "PUT /v2/files/{id}/content": [({"id": TEXT_FILE}, {}, ("application/octet-stream", b"hello")),  # 200
                                   ({"id": FOLDER}, {}, ("application/octet-stream", b"hello"))],  # 400
    "POST /v2/files": [({}, {}, ("text/plain", "hello"))],  # 415
    "POST /v2/files/{id}/restore": [({"id": TRASHED_FILE}, {})],  # 200
    "DELETE /v2/links/{id}": [({"id": LINK}, {})],  # 204
}

# The web app's answers: (path parameters, _VERSION standing for the current version; headers).
# The asset is at the top of web/: the test finds a request's operation by one path segment per parameter.
_VERSION = object()
UI_EXAMPLES = {
    "GET /": [({}, {}), ({}, {"If-None-Match": "*"})],  # 200, 304
    "GET /ui/{version}/{path}": [({"version": _VERSION, "path": "icon.svg"}, {}),  # 200
                                 ({"version": _VERSION, "path": "icon.svg"}, {"If-None-Match": "*"}),  # 304
                                 ({"version": "0" * 16, "path": "icon.svg"}, {})],  # 404
}

# Answers a request valid by the document can get because of what the server
# holds, not because of the request's shape (the v1 contract says 400, not 409),
# or because of a rule the document cannot state (see the operation's description).
STATE_DEPENDENT_400 = {
    "GET /s/{token}": {"Invalid cursor"},
    "GET /s/{token}/{file_id}": {"Invalid cursor"},
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
    # Upload-Metadata values are base64: what they hold (a valid name, a parent, a boolean) is out of the
    # pattern's sight, and so are keys given twice (STATE_DEPENDENT_400_PREFIXES).
    "POST /v2/uploads": {"Invalid name", "Parent not found", "Parent is not a folder",
                         "Invalid isPublic: expected true or false"},
    # X-HTTP-Method-Override: PATCH reads Upload-Offset and Upload-Checksum (needs the first), DELETE
    # neither, so the document holds them to no format (STATE_DEPENDENT_400_PREFIXES).
    "POST /v2/uploads/{upload_id}": {"Missing Upload-Offset header"},
}
# Upload-Checksum is read only with a chunk (a PATCH's, a creation's body): its format is in the description.
_CHECKSUM_400 = ("Invalid Upload-Checksum header: ", "Unsupported checksum algorithm: ")
STATE_DEPENDENT_400_PREFIXES = {
    "POST /v2/uploads": ("Invalid Upload-Metadata header: key ", *_CHECKSUM_400),
    "POST /v2/uploads/{upload_id}": ("Invalid Upload-Offset header: ", *_CHECKSUM_400),
}


V2_FAILURES_ADDRESS = "192.0.2.99"
_LOGINS_V2 = {"POST /v2/sessions", "PUT /v2/users/me/password"}
_valid_seen: dict[str, int] = {}


@schemathesis.hook
def before_call(ctx, case, **kwargs) -> None:
    label = case.operation.label
    if label.startswith(("POST /v2/uploads", "PATCH /v2/uploads", "DELETE /v2/uploads", "HEAD /v2/uploads",
                         "OPTIONS /v2/uploads")):
        _to_an_upload(case)
        return
    if label not in _LOGINS_V2 and label != "POST /v2/users":
        return
    case.headers = dict(case.headers or {})
    if label in _LOGINS_V2:
        case.headers["X-Forwarded-For"] = V2_FAILURES_ADDRESS
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or not isinstance(case.body, dict):
        return
    seen = _valid_seen[label] = _valid_seen.get(label, 0) + 1
    if seen % 3:
        return
    if label == "POST /v2/sessions":
        case.body = {**case.body, "email": EMAIL, "password": PASSWORD}
        case.headers["X-Forwarded-For"] = HOOK_ADDRESS
    elif label == "PUT /v2/users/me/password":
        case.body = {**case.body, "currentPassword": PASSWORD, "newPassword": PASSWORD}
        case.headers["X-Forwarded-For"] = HOOK_ADDRESS
    else:
        case.headers["X-Forwarded-For"] = f"198.51.100.{seen // 3 % 250 + 1}"


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
        elif "metricsToken" in schemes:  # metrics.token, not a user's
            case.headers["Authorization"] = f"Bearer {METRICS_TOKEN}"
        elif "basic" in schemes:
            case.headers["Authorization"] = BASIC


@schemathesis.hook
def before_add_examples(ctx, examples: list) -> None:
    """Explicit cases are sent as built (the auth hook does not see them): each gets a fresh token,
    marked as the run's own credentials, so the auth checks still probe the case without them."""
    operation = ctx.operation
    for path_parameters, headers, *body in PREPARED_EXAMPLES.get(operation.label, []):
        token = LoginWhenNeeded().get(None, None)
        media = {"media_type": body[0][0], "body": body[0][1]} if body else {}
        case = operation.Case(path_parameters=path_parameters, headers={**headers, "X-Token": token}, **media)
        case._has_explicit_auth = True
        examples.append(case)
    if operation.label in TUS_LABELS:
        for path_parameters, headers, body in _tus_examples(operation.label):
            if "Authorization" not in headers:  # the 401 examples carry a wrong bearer instead
                headers = {**headers, "X-Token": LoginWhenNeeded().get(None, None)}
            case = operation.Case(path_parameters=path_parameters, headers=headers,
                                  **({} if body is None else {"body": body, "media_type": CHUNK_TYPE}))
            case._has_explicit_auth = True
            examples.append(case)
    if operation.label == "GET /metrics":
        for headers in METRICS_EXAMPLES:
            case = operation.Case(headers=headers)
            case._has_explicit_auth = True
            examples.append(case)
    if operation.label in UI_EXAMPLES:
        version = re.search(r'"/ui/([0-9a-f]{16})/', requests.get(f"{URL}/", timeout=30).text).group(1)
        for params, headers in UI_EXAMPLES[operation.label]:
            path_parameters = {name: version if value is _VERSION else value for name, value in params.items()}
            examples.append(operation.Case(path_parameters=path_parameters, headers=headers))
    if operation.label in SHARE_EXAMPLES:
        shares = _shares_made()
        for params, headers, body in SHARE_EXAMPLES[operation.label]:
            path_parameters = {name: shares.get(value, value) for name, value in params.items()}
            if body is None:
                examples.append(operation.Case(path_parameters=path_parameters, headers=headers))
            else:
                media_type, value = body
                examples.append(operation.Case(path_parameters=path_parameters, headers=headers, body=value,
                                               media_type=media_type))


@schemathesis.check
def only_state_dependent_400_for_valid_input(ctx, response, case) -> None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return
    message = response.json().get("error")
    allowed = STATE_DEPENDENT_400.get(case.operation.label, set())
    if message not in allowed and not message.startswith(STATE_DEPENDENT_400_PREFIXES.get(case.operation.label,
                                                                                         ())):
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


# ---- share links ---------------------------------------------------------------
SHARES_EMAIL, SHARES_PASSWORD = "schemathesis-shares@example.com", "schemathesis-shares-password"
_shares: dict[str, str] = {}


def _shares_made() -> dict[str, str]:
    """Links of every kind, to a folder `shared` {a.txt, sub/ {b.txt}} and a file outside it; made once."""
    if _shares:
        return _shares
    proxy = {"X-Forwarded-For": HOOK_ADDRESS}
    requests.post(f"{URL}/users", json={"email": SHARES_EMAIL, "password": SHARES_PASSWORD}, headers=proxy,
                  timeout=30)  # 400 Already exist when the hooks are loaded twice: the account is there
    basic = base64.b64encode(f"{SHARES_EMAIL}:{SHARES_PASSWORD}".encode()).decode()
    resp = requests.get(f"{URL}/connect", headers={"Authorization": f"Basic {basic}", **proxy}, timeout=30)
    resp.raise_for_status()
    auth = {"X-Token": resp.json()["token"]}

    def new(name: str, parent: str | int = 0, data: bytes | None = None) -> str:
        body = {"name": name, "type": "folder" if data is None else "file", "parentId": parent}
        if data is not None:
            body["data"] = base64.b64encode(data).decode()
        made = requests.post(f"{URL}/files", json=body, headers=auth, timeout=30)
        made.raise_for_status()
        return made.json()["id"]

    def link(file_id: str, **terms) -> str:
        made = requests.post(f"{URL}/v2/files/{file_id}/links", json=terms, headers=auth, timeout=30)
        made.raise_for_status()
        return made.json()["url"].removeprefix("/s/")

    folder = new("shared")
    inside = new("a.txt", folder, b"0123456789")
    sub = new("sub", folder)
    deep = new("b.txt", sub, b"deep")
    outside = new("outside.txt", 0, b"outside")
    used_up = link(outside, maxDownloads=1)
    requests.get(f"{URL}/s/{used_up}", timeout=30).raise_for_status()
    _shares.update({"file": link(outside), "folder": link(folder), "gone": used_up,
                    "locked": link(outside, password="right"), "locked_item": link(folder, password="right"),
                    "inside": inside, "sub": sub, "deep": deep, "outside": outside})
    return _shares


_RANGE, _BAD_RANGE = {"Range": "bytes=2-5"}, {"Range": "bytes=999-"}
_FRESH, _CHANGED = {"If-None-Match": "*"}, {"If-Match": '"other"'}
_UNKNOWN_TOKEN = "A" * 22
_JSON, _FORM = "application/json", "application/x-www-form-urlencoded"


def _wrong_passwords(link: str, params: dict[str, str]) -> list:
    """Wrong passwords to a locked link until the limit (security.login_max_failures, 10): 401s, then 429."""
    return [({"token": link, **params}, {}, (_JSON, {"password": f"wrong-{n}"})) for n in range(11)]


# Each answer of each /s/ operation, as an explicit example: (path parameters, by their
# name in _shares or as they are; headers; body as (media type, value) or None).
SHARE_EXAMPLES = {
    "GET /s/{token}": [
        ({"token": "file"}, {}, None), ({"token": "file"}, _RANGE, None), ({"token": "file"}, _FRESH, None),
        ({"token": "file"}, _CHANGED, None), ({"token": "file"}, _BAD_RANGE, None),
        ({"token": "folder"}, {}, None), ({"token": "gone"}, {}, None), ({"token": "locked"}, {}, None),
        ({"token": _UNKNOWN_TOKEN}, {}, None)],
    "GET /s/{token}/{file_id}": [
        ({"token": "folder", "file_id": "inside"}, headers, None) for headers in ({}, _RANGE, _FRESH, _CHANGED,
                                                                                   _BAD_RANGE)] + [
        ({"token": "folder", "file_id": "sub"}, {}, None), ({"token": "folder", "file_id": "outside"}, {}, None),
        ({"token": "gone", "file_id": "inside"}, {}, None), ({"token": "locked_item", "file_id": "inside"}, {}, None)],
    "POST /s/{token}": [
        ({"token": "file"}, {}, (_JSON, {"password": "x"})), ({"token": "file"}, {}, (_FORM, {"password": "x"})),
        ({"token": "gone"}, {}, (_JSON, {"password": "x"})),
        ({"token": _UNKNOWN_TOKEN}, {}, (_JSON, {"password": "x"})),
        *_wrong_passwords("locked", {})],
    "POST /s/{token}/{file_id}": [
        ({"token": "folder", "file_id": "sub"}, {}, (_JSON, {"password": "x"})),
        ({"token": "folder", "file_id": "sub"}, {}, (_FORM, {"password": "x"})),
        ({"token": "gone", "file_id": "inside"}, {}, (_JSON, {"password": "x"})),
        ({"token": _UNKNOWN_TOKEN, "file_id": "inside"}, {}, (_JSON, {"password": "x"})),
        *_wrong_passwords("locked_item", {"file_id": "inside"})],
}

# Generated /s/ requests go to the links too, by operation (None keeps the generated token: 404).
_TOKENS = {
    "GET /s/{token}": [None, "file", "file", "folder", "gone", "locked"],
    "GET /s/{token}/{file_id}": [None, "file", "folder", "folder", "folder", "gone", "locked_item"],
    # Wrong passwords to the locked links until 429; the others have none (204, 303).
    "POST /s/{token}": [None, "file", "folder", "gone", "locked", "locked"],
    "POST /s/{token}/{file_id}": [None, "file", "folder", "gone", "locked_item", "locked_item"],
}
_ITEMS = [None, "inside", "deep", "sub", "outside", "inside"]
# ... now and then conditional (schemathesis's own values for these headers seldom mean anything).
_CONDITIONAL = ("range", "if-range", "if-none-match", "if-modified-since", "if-match", "if-unmodified-since")
_CONDITIONS = [None, None, None, None, _RANGE, _FRESH, _CHANGED, _BAD_RANGE]


def _pick(case, salt: str, choices: list):
    """One of `choices` by the case as generated, the same each run (None: leave it)."""
    key = repr((salt, case.path_parameters, case.query, case.headers, case.body))
    return choices[zlib.crc32(key.encode("utf-8", "surrogatepass")) % len(choices)]


@schemathesis.hook
def map_case(context, case):
    label = case.operation.label
    meta = case.meta
    if label not in _TOKENS or not case.path_parameters or meta is None or meta.phase.name in ("examples",
                                                                                               "stateful"):
        return case
    shares = _shares_made()
    params = case.path_parameters
    if "file_id" in params:
        item = _pick(case, "item", _ITEMS)
        if item is not None:
            params["file_id"] = shares[item]
    kind = _pick(case, "token", _TOKENS[label])
    if kind is not None:
        params["token"] = shares[kind]
    if label.startswith("GET "):
        condition = _pick(case, "condition", _CONDITIONS)
        if condition is not None:
            others = {k: v for k, v in (case.headers or {}).items() if k.lower() not in _CONDITIONAL}
            case.headers = {**others, **condition}
    return case


# ---- tus uploads ---------------------------------------------------------------
CHUNK_TYPE = "application/offset+octet-stream"
# A chunk is raw bytes, empty or not, in valid and invalid cases alike: any bytes are a chunk, so a
# non-bytes "invalid" body (sent as its JSON text) would be one too.
schemathesis.openapi.media_type(CHUNK_TYPE, st.one_of(st.just(b""), st.binary(max_size=4096)))

_TUS = {"Tus-Resumable": "1.0.0"}
_WRONG_TOKEN = {"Authorization": "Bearer not-a-token"}
_UNKNOWN_UPLOAD = "0" * 24
_UPLOAD_URL_LABELS = {"OPTIONS /v2/uploads/{upload_id}", "HEAD /v2/uploads/{upload_id}",
                      "PATCH /v2/uploads/{upload_id}", "DELETE /v2/uploads/{upload_id}",
                      "POST /v2/uploads/{upload_id}"}
TUS_LABELS = {"OPTIONS /v2/uploads", "POST /v2/uploads", *_UPLOAD_URL_LABELS}
_held_parts: list[int] = []  # descriptors whose flock stands for another writer, until the run ends
_token: list[str] = []


def _metadata(**pairs: str) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in pairs.items())


def _checksum(data: bytes) -> str:
    return "sha1 " + base64.b64encode(hashlib.sha1(data).digest()).decode()


def _new_upload(length: int = 10, body: bytes = b"") -> str:
    """A new upload of the test's account (its first bytes sent with it): its id."""
    headers = {**_TUS, "Upload-Length": str(length), "Upload-Metadata": _metadata(filename="hooks.bin")}
    if body:
        headers["Content-Type"] = CHUNK_TYPE
    for _ in range(2):  # once more with a new token when the run revoked this one
        if not _token:
            _token.append(LoginWhenNeeded().get(None, None))
        resp = requests.post(f"{URL}/v2/uploads", headers={**headers, "X-Token": _token[0]}, data=body, timeout=30)
        if resp.status_code != 401:
            break
        _token.clear()
    assert resp.status_code == 201, resp.text
    return resp.headers["Location"].rsplit("/", 1)[1]


def _busy_upload() -> str:
    """An upload another writer holds: its part's flock taken, as a PATCH in any process takes it,
    for the rest of the run (PATCH and DELETE: 409)."""
    upload_id = _new_upload()
    os.makedirs(UPLOAD_PARTS, exist_ok=True)
    fd = os.open(os.path.join(UPLOAD_PARTS, f"{upload_id}.part"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    _held_parts.append(fd)
    return upload_id


def _tus_examples(label: str) -> list[tuple[dict[str, str], dict[str, str], bytes | None]]:
    """Each answer of the tus operation `label`, as (path parameters, headers, chunk or None), on uploads
    made now (the test's account; an example without X-Token carries a wrong bearer)."""
    length = {"Upload-Length": "10", "Upload-Metadata": _metadata(filename="example.txt")}
    if label == "OPTIONS /v2/uploads":
        return [({}, {}, None), ({}, _WRONG_TOKEN, None)]
    if label == "OPTIONS /v2/uploads/{upload_id}":
        return [({"upload_id": _new_upload()}, {}, None), ({"upload_id": _UNKNOWN_UPLOAD}, _WRONG_TOKEN, None)]
    if label == "POST /v2/uploads":
        whole = {"Upload-Length": "5", "Upload-Checksum": _checksum(b"hello"),
                 "Upload-Metadata": _metadata(filename="hello.txt", parentId="0", isPublic="true")}
        return [({}, {**_TUS, **length}, None),  # 201
                ({}, {**_TUS, **whole}, b"hello"),  # 201, File-Id
                ({}, {**_TUS, **length}, b"01234"),  # 201, at 5
                ({}, {**_TUS, **length, "Upload-Length": "ten"}, None),  # 400
                ({}, {**_TUS, **length, "Upload-Defer-Length": "1"}, None),  # 400
                ({}, {**_TUS, **length, "Upload-Metadata": _metadata(filename="x", parentId=TEXT_FILE)}, None),
                ({}, length, None),  # 412
                ({}, {**_TUS, **length, "Upload-Length": str(2**63 - 1)}, None),  # 413 File too large
                ({}, {**_TUS, **length}, b"0123456789+"),  # 413 past the length
                ({}, {**_TUS, **length, "Content-Type": "text/plain"}, b"01234"),  # 415
                ({}, {**_TUS, **length, "Upload-Checksum": _checksum(b"other")}, b"01234"),  # 460
                ({}, {**_TUS, **length, **_WRONG_TOKEN}, None)]  # 401
    if label == "HEAD /v2/uploads/{upload_id}":
        return [({"upload_id": _new_upload()}, _TUS, None),  # 200
                ({"upload_id": _new_upload(5, b"hello")}, _TUS, None),  # 200, File-Id
                ({"upload_id": _UNKNOWN_UPLOAD}, _TUS, None),  # 404
                ({"upload_id": _new_upload()}, {}, None),  # 412
                ({"upload_id": _new_upload()}, {**_TUS, **_WRONG_TOKEN}, None)]  # 401
    if label == "DELETE /v2/uploads/{upload_id}":
        return [({"upload_id": _new_upload()}, _TUS, None),  # 204
                ({"upload_id": _UNKNOWN_UPLOAD}, _TUS, None),  # 404
                ({"upload_id": _busy_upload()}, _TUS, None),  # 409
                ({"upload_id": _new_upload()}, {}, None),  # 412
                ({"upload_id": _new_upload()}, {**_TUS, **_WRONG_TOKEN}, None)]  # 401
    override = {"X-HTTP-Method-Override": "PATCH"} if label.startswith("POST") else {}
    at = {**_TUS, **override, "Upload-Offset": "0"}
    examples = [({"upload_id": _new_upload()}, at, b"01234"),  # 204, at 5
                ({"upload_id": _new_upload(5)}, {**at, "Upload-Checksum": _checksum(b"hello")}, b"hello"),  # File-Id
                ({"upload_id": _new_upload()}, {**at, "Upload-Offset": "x"}, b"01234"),  # 400
                ({"upload_id": _UNKNOWN_UPLOAD}, at, b"01234"),  # 404
                ({"upload_id": _new_upload()}, {**at, "Upload-Offset": "3"}, b"01234"),  # 409
                ({"upload_id": _busy_upload()}, at, b"01234"),  # 409, another writer
                ({"upload_id": _new_upload()}, {**override, "Upload-Offset": "0"}, b"01234"),  # 412
                ({"upload_id": _new_upload()}, at, b"0123456789+"),  # 413
                ({"upload_id": _new_upload()}, {**at, "Content-Type": "text/plain"}, b"01234"),  # 415
                ({"upload_id": _new_upload()}, {**at, "Upload-Checksum": _checksum(b"other")}, b"01234"),  # 460
                ({"upload_id": _new_upload()}, {**at, **_WRONG_TOKEN}, b"01234")]  # 401
    if override:
        examples += [({"upload_id": _new_upload()}, {**_TUS, "X-HTTP-Method-Override": "delete"}, b""),  # 204
                     ({"upload_id": _new_upload()}, {**at, "X-HTTP-Method-Override": "GET"}, b"01234")]  # 405
    return examples


def _to_an_upload(case) -> None:
    """A generated (valid) request to an upload URL goes to a fresh upload when the case says so, now
    and then at its right offset; a generated creation gets a valid filename now and then."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or meta.phase.name in ("examples", "stateful"):
        return
    label = case.operation.label
    headers = case.headers = dict(case.headers or {})
    if label == "POST /v2/uploads":
        metadata = headers.get("Upload-Metadata")
        if isinstance(metadata, str) and _pick(case, "filename", [True, False]):
            _, comma, rest = metadata.partition(",")
            headers["Upload-Metadata"] = _metadata(filename="fuzzed.bin") + comma + rest
        return
    if label in _UPLOAD_URL_LABELS and _pick(case, "upload", [False, True, True]):
        at_offset = label.startswith(("PATCH", "POST")) and _pick(case, "offset", [True, False])
        case.path_parameters = {**(case.path_parameters or {}), "upload_id": _new_upload(1000)}
        if at_offset:
            headers["Upload-Offset"] = "0"
