"""Hostile input gets a 4xx, never a 500: every route is sent lone surrogates,
percent-encoded invalid UTF-8, NUL bytes and over-long values in its path id,
its query parameters, its headers (X-Token, Authorization, Range, ...) and its
JSON body (deep nesting, lone surrogates, huge numbers), and the tus routes
their protocol's headers (numbers out of range or spelt oddly, metadata and
checksums that are not what they claim, headers sent twice) and chunk bodies,
over raw sockets so the bytes arrive exactly as written."""

from __future__ import annotations

import asyncio
import base64
import itertools
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from services.api.app import create_app

from .conftest import b64, upload
from .tus_support import metadata, new_upload

ROUTES = [
    ("GET", "/status"), ("GET", "/stats"), ("POST", "/users"), ("GET", "/connect"),
    ("GET", "/disconnect"), ("GET", "/users/me"), ("POST", "/files"), ("GET", "/files/{id}"),
    ("GET", "/files"), ("PUT", "/files/{id}/publish"), ("PUT", "/files/{id}/unpublish"),
    ("GET", "/files/{id}/data"), ("GET", "/openapi.json"), ("GET", "/metrics"), ("GET", "/livez"),
    ("GET", "/readyz"),
    # the web UI
    ("GET", "/"), ("GET", "/ui/{version}/{path}"),
    # v2 accounts
    ("POST", "/v2/users"), ("POST", "/v2/sessions"), ("DELETE", "/v2/sessions/current"), ("GET", "/v2/users/me"),
    ("PUT", "/v2/users/me/password"),
    # v2 files
    ("GET", "/v2/files"), ("GET", "/v2/files/{id}"), ("PATCH", "/v2/files/{id}"), ("DELETE", "/v2/files/{id}"),
    ("POST", "/v2/files/{id}/restore"), ("GET", "/v2/trash"), ("DELETE", "/v2/trash"),
    # share links
    ("POST", "/v2/files/{id}/links"), ("GET", "/v2/files/{id}/links"), ("DELETE", "/v2/links/{id}"),
    ("GET", "/s/{token}"), ("POST", "/s/{token}"), ("GET", "/s/{token}/{file_id}"),
    ("POST", "/s/{token}/{file_id}"),
    ("POST", "/v2/files"), ("PUT", "/v2/files/{id}/content"), ("GET", "/v2/files/{id}/content"),
    # tus (HEAD /v2/uploads/{upload_id} too: test_hostile_tus_headers)
    ("OPTIONS", "/v2/uploads"), ("POST", "/v2/uploads"), ("OPTIONS", "/v2/uploads/{upload_id}"),
    ("PATCH", "/v2/uploads/{upload_id}"), ("DELETE", "/v2/uploads/{upload_id}"), ("POST", "/v2/uploads/{upload_id}"),
]
HOSTILE_TEXT = [b"%ED%A0%80", b"%FF%FE", b"%00", b"%C0%AF", b"..%2F..%2Fetc%2Fpasswd", b"%25", b"x" * 6000]
HOSTILE_HEADER_VALUES = [b"\xed\xa0\x80", b"\xff\xfe", b"abc\xc0\xaf", b"x" * 7000, b"\xe2\x82", b"%ED%A0%80"]
HEADERS = [b"X-Token", b"Authorization", b"Range", b"If-None-Match", b"If-Modified-Since", b"If-Range",
           b"Content-Type", b"X-Request-Id", b"Accept", b"X-Forwarded-For", b"Cookie", b"X-Forwarded-Proto"]
QUERY_NAMES = [b"parentId", b"page", b"size", b"download", b"q", b"sort", b"limit", b"cursor", b"permanent",
               b"\xed\xa0\x80"]
BODIES = [
    b"[" * 100_000,
    b'{"name": "\\ud800", "type": "folder"}',
    b'{"email": "\\ud800@x.y", "password": "pw"}',
    b'{"email": "a@b.c", "password": "\\udfff"}',
    b'{"name": "\xed\xa0\x80", "type": "folder"}',
    b'{"email": "\xff@x.y", "password": "pw"}',
    b'{"name": "x", "type": "folder", "parentId": 1e999}',
    b'{"name": "x", "type": "folder", "parentId": 123456789012345678901234567890}',
    b'{"name": "x", "type": "file", "data": "aGk=\\ud800"}',
    b'{"email": {"$ne": null}, "password": ["pw"]}',
    b'{"name": "x", "type": "file", "data": "' + b"\\u0041" * 20_000 + b'"}',
    b"\x00\x01\x02",
    b'{"name": "x", "parentId": {"$ne": null}, "isPublic": "\\ud800"}',
    b'{"parentId": "' + b"f" * 24 + b'", "name": "' + b"\\u00e9" * 200 + b'"}',
    b'{"expiresIn": 1e999, "maxDownloads": 123456789012345678901234567890}',
    b'{"password": "\\ud800"}',
    b'{"password": {"$ne": null}}',
]


@pytest.fixture
async def target(request, client, alice, backend_settings):
    """(host, port, headers of a signed-in user, ids of an existing file and folder)."""
    if request.node.callspec.params.get("backend_settings") == "live":
        parts = urlsplit(request.getfixturevalue("live_service").url)
        host, port = parts.hostname, parts.port
    else:
        host, port = "127.0.0.1", client.server.port
    file = await upload(client, alice, name="a.png", type="image", data=b64(b"\x89PNG"), isPublic=True)
    folder = await upload(client, alice, name="docs", type="folder")
    inside = await upload(client, alice, name="in.txt", type="file", data=b64(b"in"), parentId=folder["id"])
    tokens = []
    for terms in ({}, {"password": "pw"}):
        resp = await client.post(f"/v2/files/{folder['id']}/links", json=terms, headers=alice.headers)
        tokens.append((await resp.json())["url"].removeprefix("/s/").encode())
    upload_url = await new_upload(client, alice, 10)
    return Target(host, port, alice.token.encode(), file["id"].encode(), folder["id"].encode(),
                  *tokens, inside["id"].encode(), upload_url.rsplit("/", 1)[1].encode())


@dataclass
class Target:
    host: str
    port: int
    token: bytes  # the user's
    file_id: bytes
    folder_id: bytes
    share_token: bytes  # a link to the folder
    locked_token: bytes  # another, with a password (its POST reads the body)
    inside_id: bytes  # a file in the folder
    upload_id: bytes  # a tus upload of the user's, 10 bytes long, none sent

    def __iter__(self):
        return iter((self.host, self.port, self.token, self.file_id, self.folder_id))

    def path(self, template: str, value: bytes | None = None, method: str = "GET", locked: bool = False) -> bytes:
        """`template` filled in with real ids (each placeholder with `value` when given); a
        share link's POST goes to the locked link (so that its body is read)."""
        path = template.encode()
        share = self.locked_token if locked or method == "POST" else self.share_token
        for name, real in ((b"{id}", self.file_id), (b"{token}", share),
                           (b"{file_id}", self.inside_id), (b"{upload_id}", self.upload_id),
                           (b"{version}", b"0123456789abcdef"), (b"{path}", b"js/main.js")):
            path = path.replace(name, real if value is None else value)
        return path


async def status_of(host: str, port: int, raw: bytes) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(raw)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 30)
        return int(line.split()[1])
    finally:
        writer.close()


def build(method: str, path: bytes, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> bytes:
    if path.startswith((b"/disconnect", b"/v2/sessions/current")):  # keep the user's token for the other requests
        headers = [(name, b"someone-elses" if name == b"X-Token" else value) for name, value in headers]
    if path.startswith(b"/v2/uploads") and all(name != b"Tus-Resumable" for name, _ in headers):
        headers = [(b"Tus-Resumable", b"1.0.0"), *headers]  # past the version check (412)
    lines = [method.encode() + b" " + path + b" HTTP/1.1", b"Host: x", b"Connection: close",
             *(name + b": " + value for name, value in headers)]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def no_server_errors(host: str, port: int, requests: list[tuple[str, bytes]]) -> None:
    failures = []
    for label, raw in requests:
        status = await status_of(host, port, raw)
        if status >= 500:
            failures.append(f"{status} {label}")
    assert not failures, "\n".join(failures[:40])


def paths(method: str, template: str, target: Target) -> list[bytes]:
    if "{" not in template:
        return [template.encode()]
    return [target.path(template, method=method),
            *(target.path(template, value, method) for value in HOSTILE_TEXT)]


async def test_hostile_path_ids_and_query_parameters(target):
    host, port, token, _, _ = target
    requests = []
    for (method, template), value in itertools.product(ROUTES, HOSTILE_TEXT):
        for path in paths(method, template, target):
            for name in QUERY_NAMES:
                query = path + b"?" + name + b"=" + value
                requests.append((f"{method} {query[:80]!r}", build(method, query, [(b"X-Token", token)])))
    await no_server_errors(host, port, requests)


async def test_hostile_headers(target):
    host, port, token, _, _ = target
    requests = []
    for (method, template), header, value in itertools.product(ROUTES, HEADERS, HOSTILE_HEADER_VALUES):
        path = target.path(template, method=method)
        headers = [(header, value)] if header == b"X-Token" else [(b"X-Token", token), (header, value)]
        requests.append((f"{method} {template} {header!r}: {value[:20]!r}", build(method, path, headers)))
        if header == b"Authorization":
            for scheme in (b"Basic ", b"Bearer "):
                headers = [(header, scheme + value)]
                requests.append((f"{method} {template} {scheme!r}{value[:20]!r}", build(method, path, headers)))
    for credentials in (b"\xed\xa0\x80:pw", b"a@b.c:\xff\xfe", b"\x00:\x00", b"x" * 6000 + b":pw"):
        encoded = base64.b64encode(credentials)
        requests.append((f"connect {credentials[:20]!r}",
                         build("GET", b"/connect", [(b"Authorization", b"Basic " + encoded)])))
    await no_server_errors(host, port, requests)


async def test_hostile_unlock_cookies(target):
    """A password link's cookie, whatever its bytes: 401, never a 500."""
    host, port, *_ = target
    requests = []
    for value in [*HOSTILE_HEADER_VALUES, *HOSTILE_TEXT, b'"quoted"', b"a=b; fm_share=", b"x.1.y"]:
        for template in ("/s/{token}", "/s/{token}/{file_id}"):
            path = target.path(template, locked=True)
            requests.append((f"GET {template} Cookie {value[:20]!r}",
                             build("GET", path, [(b"Cookie", b"fm_share=" + value)])))
    await no_server_errors(host, port, requests)


async def test_hostile_json_bodies(target):
    host, port, token, _, _ = target
    requests = []
    for (method, template), body in itertools.product(ROUTES, BODIES):
        if method not in ("POST", "PUT", "PATCH"):
            continue
        path = target.path(template, method=method)
        for content_type in (b"application/json", b"application/x-www-form-urlencoded"):
            if content_type != b"application/json" and not template.startswith("/s/"):
                continue  # only a share link's password takes a form
            headers = [(b"X-Token", token), (b"Content-Type", content_type)]
            requests.append((f"{method} {template} {content_type!r} {body[:40]!r}",
                             build(method, path, headers, body)))
    await no_server_errors(host, port, requests)


@pytest.mark.parametrize("body, message", [
    (b"[" * 100_000, "Invalid JSON body: nested more than 1024 levels deep"),
    (b'{"email": "\\ud800@x.y", "password": "pw"}',
     "Invalid JSON body: a string holds a lone surrogate (\\ud800-\\udfff), not a character"),
    (b'{"email": "a@b.c", "password": "\\udfff"}',
     "Invalid JSON body: a string holds a lone surrogate (\\ud800-\\udfff), not a character"),
    (b'{"email": "\xed\xa0\x80@x.y", "password": "pw"}', "Invalid JSON body: not UTF-8"),
])
async def test_sign_up_says_what_is_wrong_with_the_body(client, body, message):
    resp = await client.post("/users", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert await resp.json() == {"error": message}
    assert (await (await client.get("/stats")).json())["users"] == 0


async def test_an_upload_with_a_lone_surrogate_in_its_name_is_a_400(client, alice):
    body = b'{"name": "\\ud800.txt", "type": "file", "data": "aGk="}'
    resp = await client.post("/files", data=body, headers={**alice.headers, "Content-Type": "application/json"})
    assert resp.status == 400
    assert (await resp.json())["error"].startswith("Invalid JSON body: a string holds a lone surrogate")


# --- tus -----------------------------------------------------------------------
_NUMBERS = [b"9" * 19, b"9" * 20, b"9" * 5000, b"9223372036854775807", b"9223372036854775808", b"18446744073709551616",
            b"-0", b"-1", b"+1", b"1 1", b"1,1", b"0x10", b"1e3", b"1.0", b"1_0", b"0" * 30 + b"1",
            "\u0661".encode(), "\uff11".encode(), "\u00b9".encode(), b"\x00", b"", b"\xff"]
_NAME = base64.b64encode
TUS_HOSTILE = {
    b"Upload-Offset": _NUMBERS,
    b"Upload-Length": _NUMBERS,
    b"Upload-Metadata": [
        b"filename", b"filename ", b",", b",,,", b" , ", b"filename eA==,filename eA==", b"filename " + b"A" * 5000,
        b"filename ====", b"filename e===", b"filename eA==" + b",k" * 100, b"filename \xff\xfe",
        b"filename eA==,\xed\xa0\x80 eA==", b"filename " + _NAME("\ud800".encode("utf-8", "surrogatepass")),
        b"filename " + _NAME(b"a\x00b"), b"filename " + _NAME(b"\xc0\xaf"),
        b"filename " + _NAME("\u00e9".encode() * 200),
        b"filename " + _NAME(b".."), b"filename " + _NAME(b"a/b"), b"filename " + _NAME("\u202e".encode()),
        metadata(filename="x", parentId="\x00" * 24).encode(), metadata(filename="x", parentId="f" * 24).encode(),
        metadata(filename="x", parentId="0" * 1000).encode(), metadata(filename="x", parentId="-1").encode(),
        metadata(filename="x", isPublic="\ufefftrue").encode(), metadata(filename="x", isPublic=b"\xff").encode(),
        metadata(filename="x", **{"$where": "1"}).encode(), b"filename\teA==", b"filename  eA==", b"\x00 eA==",
    ],
    b"Upload-Checksum": [
        b"sha1", b"sha1 ", b"sha1 x", b" sha1  " + _NAME(b"\x00" * 20), b"sha256 " + b"A" * 10_000, b"md5 ====",
        b"SHA1 " + _NAME(b"\x00" * 20), b"sha1 \xff", b"crc32 AAAAAA==", b"sha1 " + _NAME(b"\x00" * 20) + b" extra",
        b"md5 " + _NAME(b"\x00" * 15), b"md5 " + _NAME(b"\x00" * 17), b"md5,sha1 AAAA", b"\x00 AAAA",
    ],
    b"Upload-Defer-Length": [b"1", b"0", b"-1", b"\xff"],
    b"X-HTTP-Method-Override": [b"PATCH", b"patch", b"DELETE", b"GET", b"HEAD", b"OPTIONS", b"POST", b"PATCH, DELETE",
                                b"\xff", b"x" * 5000, b""],
    b"Tus-Resumable": [b"1.0.0 ", b"1.0.0,1.0.0", b"1.0.0\x00", b"\xff", b"9" * 5000],
    b"Content-Type": [b"application/offset+octet-stream; charset=\xff", b"application/offset+octet-stream;;;=",
                      b"application/offset+octet-stream; a=\"", b"APPLICATION/OFFSET+OCTET-STREAM", b"*/*"],
}
# (name, first value, second value): the same header twice.
TUS_TWICE = [(b"Upload-Offset", b"0", b"0"), (b"Upload-Offset", b"0", b"5"), (b"Upload-Length", b"10", b"10"),
             (b"Upload-Metadata", b"filename eA==", b"filename eQ=="), (b"Tus-Resumable", b"1.0.0", b"1.0.0"),
             (b"Upload-Checksum", b"sha1 " + _NAME(b"\x00" * 20), b"md5 " + _NAME(b"\x00" * 16)),
             (b"X-HTTP-Method-Override", b"PATCH", b"DELETE"), (b"Content-Type", b"application/offset+octet-stream",
                                                                 b"text/plain")]
TUS_ROUTES = [("OPTIONS", "/v2/uploads"), ("POST", "/v2/uploads"), ("OPTIONS", "/v2/uploads/{upload_id}"),
              ("HEAD", "/v2/uploads/{upload_id}"), ("PATCH", "/v2/uploads/{upload_id}"),
              ("DELETE", "/v2/uploads/{upload_id}"), ("POST", "/v2/uploads/{upload_id}")]
_TUS_BASE = {b"Upload-Length": b"10", b"Upload-Metadata": b"filename eA==", b"Upload-Offset": b"0",
             b"Content-Type": b"application/offset+octet-stream", b"X-HTTP-Method-Override": b"PATCH"}


async def _tus_requests(client, alice, target: Target,
                        headers_of: list[tuple[str, list[tuple[bytes, bytes]]]]) -> list[tuple[str, bytes]]:
    """Each (label, headers) on every tus route, with a body of 10 bytes where one is read, and the
    headers the route needs otherwise well-formed; an upload URL is a fresh upload's (at 0 of 10)."""
    requests = []
    for (method, template), (label, hostile) in itertools.product(TUS_ROUTES, headers_of):
        path = template.encode()
        if b"{upload_id}" in path:
            path = (await new_upload(client, alice, 10)).encode()
        names = {name for name, _ in hostile}
        headers = [(b"X-Token", target.token), *((k, v) for k, v in _TUS_BASE.items() if k not in names), *hostile]
        body = b"0123456789" if method in ("POST", "PATCH") else b""
        requests.append((f"{method} {template} {label}", build(method, path, headers, body)))
    return requests


async def test_hostile_tus_headers(target, client, alice):
    """Every header tus reads, spelt every wrong way (and sent twice), on every tus route."""
    cases = [(f"{name!r}: {value[:24]!r}", [(name, value)]) for name, values in TUS_HOSTILE.items()
             for value in values]
    cases += [(f"{name!r} twice: {first!r}, {second!r}", [(name, first), (name, second)])
              for name, first, second in TUS_TWICE]
    await no_server_errors(target.host, target.port, await _tus_requests(client, alice, target, cases))


async def test_hostile_tus_bodies(target, client, alice):
    """Chunk bodies framed every odd way: past the length, empty, chunked (well and badly), a
    Content-Length that no one could send."""
    requests = []
    chunked = [(b"Transfer-Encoding", b"chunked")]
    bodies = [
        ("past the length", [], b"x" * 11), ("empty", [], b""), ("a megabyte", [], b"x" * 1_000_000),
        ("chunked", chunked, b"5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n"),
        ("chunked past the length", chunked, b"6\r\n012345\r\n6\r\n678901\r\n0\r\n\r\n"),
        ("chunked, a bad size", chunked, b"zz\r\n01234\r\n0\r\n\r\n"),
        ("chunked, a huge size", chunked, b"ffffffffffffffffffff\r\n0\r\n\r\n"),
        ("chunked, a size with a sign", chunked, b"-5\r\n01234\r\n0\r\n\r\n"),
    ]
    for (method, template), (label, extra, body) in itertools.product(TUS_ROUTES, bodies):
        if method not in ("POST", "PATCH"):
            continue
        path = (await new_upload(client, alice, 10)).encode() if "{" in template else template.encode()
        headers = [(b"X-Token", target.token), *_TUS_BASE.items(), *extra]
        raw = build(method, path, headers)  # its Content-Length: 0 replaced by the framing below
        head = raw.removesuffix(b"\r\n\r\n").replace(b"\r\nContent-Length: 0", b"")
        framing = b"" if extra else b"\r\nContent-Length: " + str(len(body)).encode()
        requests.append((f"{method} {template} {label}", head + framing + b"\r\n\r\n" + body))
    for length in (b"99999999999999999999", b"-1", b"1e3", b"10, 10", b"0x0a"):
        path = (await new_upload(client, alice, 10)).encode()
        head = build("PATCH", path, [(b"X-Token", target.token), *_TUS_BASE.items()]).removesuffix(b"\r\n\r\n")
        requests.append((f"PATCH Content-Length: {length!r}",
                         head.replace(b"Content-Length: 0", b"Content-Length: " + length) + b"\r\n\r\n"))
    await no_server_errors(target.host, target.port, requests)


def test_every_route_is_covered(settings):
    app = create_app(settings)
    served = {(r.method, r.resource.canonical) for r in app.router.routes() if r.method not in ("HEAD", "*")}
    assert served == set(ROUTES)
