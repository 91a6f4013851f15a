"""The request line says the status the client actually got: the download's
206, 304, 412 and 416 are decided by aiohttp after the handler has returned."""

from __future__ import annotations

import asyncio
import json

import pytest

from .conftest import upload


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
    await resp.read()
    assert resp.status == status
    line = await request_line(service_output, request_id)
    assert (line["method"], line["path"], line["status"]) == ("GET", path, status)
    assert line["request_id"] == request_id
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0


async def test_a_conditional_download_is_logged_304(client, content, service_output):
    path, etag = content
    service_output()
    resp = await client.get(path, headers={"If-None-Match": etag, "X-Request-Id": "dl-cond"})
    assert resp.status == 304
    assert (await request_line(service_output, "dl-cond"))["status"] == 304
