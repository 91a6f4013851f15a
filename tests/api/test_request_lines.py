"""The request line says the status the client actually got (the download's
206, 304, 412 and 416 are decided by aiohttp after the handler has returned)
and the body bytes sent; it names the route's template, never the raw path
(a share link's holds its token), and the user when the request authenticated."""

from __future__ import annotations

import asyncio
import json

import pytest

from .conftest import upload
from .share_links import new_file, new_link


async def request_line(service_output, request_id: str) -> dict:
    """The one request line of `request_id`. It is written once the response is
    sent, which for an in-process server may be after the client has it all:
    the loop is given back until it shows (with a deadline)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    output = service_output(request_id)
    while request_id not in output and loop.time() < deadline:
        await asyncio.sleep(0.01)
        output += service_output()
    lines = [json.loads(line) for line in output.splitlines() if request_id in line]
    assert len(lines) == 1, output[-2000:]
    assert lines[0]["event"] == "request" and lines[0]["level"] == "info"
    return lines[0]


@pytest.fixture
async def content(client, alice) -> tuple[str, str]:
    """(URL path of a file's content, its ETag)."""
    created = await upload(client, alice, name="a.txt", type="file", data="MDEyMzQ1Njc4OQ==", isPublic=True)
    path = f"/files/{created['id']}/data"
    resp = await client.get(path)
    assert resp.status == 200
    return path, resp.headers["ETag"]


@pytest.mark.parametrize(("case", "headers", "status"), [
    ("range", {"Range": "bytes=2-5"}, 206),
    ("unsatisfiable", {"Range": "bytes=100-200"}, 416),
    ("if-match", {"If-Match": '"not-this-one"'}, 412),
    ("whole", {}, 200),
])
async def test_a_download_is_logged_with_the_status_sent(client, content, service_output, case, headers, status):
    path, _ = content
    service_output()
    request_id = f"dl-{case}"
    resp = await client.get(path, headers={**headers, "X-Request-Id": request_id})
    body = await resp.read()
    assert resp.status == status
    line = await request_line(service_output, request_id)
    assert (line["method"], line["route"], line["status"]) == ("GET", "/files/{id}/data", status)
    assert "path" not in line and path not in json.dumps(line)
    assert line["bytes"] == len(body) == {206: 4, 200: 10}.get(status, len(body))
    assert line["request_id"] == request_id
    assert line["user_id"] is None  # a public file, asked for anonymously
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0


async def test_a_conditional_download_is_logged_304(client, content, service_output):
    path, etag = content
    service_output()
    resp = await client.get(path, headers={"If-None-Match": etag, "X-Request-Id": "dl-cond"})
    assert resp.status == 304
    line = await request_line(service_output, "dl-cond")
    assert (line["status"], line["bytes"]) == (304, 0)


async def test_a_head_is_logged_without_body_bytes(client, content, service_output):
    path, _ = content
    service_output()
    resp = await client.head(path, headers={"X-Request-Id": "dl-head"})
    assert resp.status == 200 and resp.headers["Content-Length"] == "10"
    line = await request_line(service_output, "dl-head")
    assert (line["method"], line["status"], line["bytes"]) == ("HEAD", 200, 0)


async def test_an_authenticated_request_names_its_user(client, alice, service_output):
    service_output()
    resp = await client.get("/users/me", headers={**alice.headers, "X-Request-Id": "me-alice"})
    assert resp.status == 200
    body = await resp.read()
    line = await request_line(service_output, "me-alice")
    assert (line["route"], line["user_id"], line["bytes"]) == ("/users/me", alice.id, len(body))
    assert alice.token not in json.dumps(line)
    resp = await client.get("/users/me", headers={"X-Token": "not-a-token", "X-Request-Id": "me-nobody"})
    assert resp.status == 401
    assert (await request_line(service_output, "me-nobody"))["user_id"] is None


async def test_a_share_link_is_logged_by_its_route_not_its_token(client, alice, service_output):
    shared = await new_file(client, alice)
    link = await new_link(client, alice, shared["id"])
    token = link["url"].rstrip("/").rsplit("/", 1)[1]
    service_output()
    resp = await client.get(f"/s/{token}?download=1", headers={"X-Request-Id": "share-open"})
    assert resp.status == 200
    line = await request_line(service_output, "share-open")
    assert line["route"] == "/s/{token}"
    assert token not in json.dumps(line) and "download" not in json.dumps(line)


async def test_an_unknown_path_is_logged_unmatched(client, service_output):
    service_output()
    resp = await client.get("/no/such/secret-token-here", headers={"X-Request-Id": "nowhere"})
    assert resp.status == 404
    line = await request_line(service_output, "nowhere")
    assert line["route"] == "(unmatched)" and "secret-token-here" not in json.dumps(line)
