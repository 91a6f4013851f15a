"""v1 POST /files takes its body in as it arrives: the content reaches the disk
before the body ends, a client that goes away leaves nothing, and each process
takes in at most server.max_inflight_body_bytes of bodies at once (503 past it)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from pathlib import Path

import pytest

from services.api.app import create_app
from services.api.inflight import BODY_BUDGET
from shared.blobs import PART_SUFFIX
from tests.conftest import until

from .conftest import sign_up
from .uploads import raw_response

BUDGET = 1024 * 1024


@pytest.fixture
async def app_client(aiohttp_client, settings):
    app = create_app(settings.replace(server={"max_inflight_body_bytes": BUDGET}))
    client = await aiohttp_client(app)
    client.account = await sign_up(client)
    return client


def upload_body(size: int, name: str = "a.bin") -> tuple[bytes, bytes]:
    content = os.urandom(size)
    body = json.dumps({"name": name, "type": "file", "data": base64.b64encode(content).decode()}).encode()
    return content, body


async def open_upload(client, body_length: int | None) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw connection with the head of an upload sent (chunked when no length)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    length = f"Content-Length: {body_length}" if body_length is not None else "Transfer-Encoding: chunked"
    writer.write((f"POST /files HTTP/1.1\r\nHost: x\r\nX-Token: {client.account.token}\r\n"
                  f"Content-Type: application/json\r\n{length}\r\n\r\n").encode())
    await writer.drain()
    return reader, writer


def parts(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(PART_SUFFIX)] if folder.exists() else []


async def test_content_reaches_the_disk_while_the_body_arrives(app_client, settings):
    content, body = upload_body(3 * 1024 * 1024)
    reader, writer = await open_upload(app_client, len(body))
    writer.write(body[: len(body) // 2])
    await writer.drain()
    folder = settings.storage.folder_path
    # half the body is in: more than a write batch of it is already on disk
    await until(lambda: any(p.stat().st_size >= 1024 * 1024 for p in parts(folder)), "a growing part file")
    writer.write(body[len(body) // 2:])
    status, _, answer = await raw_response(reader)
    writer.close()
    assert status == 201, answer
    (blob,) = [p for p in folder.iterdir()]
    assert blob.read_bytes() == content


@pytest.mark.parametrize("announced", [True, False], ids=["content-length", "chunked"])
async def test_a_client_that_goes_away_mid_body_leaves_nothing(app_client, settings, announced):
    _, body = upload_body(3 * 1024 * 1024)
    _, writer = await open_upload(app_client, len(body) if announced else None)
    half = body[: len(body) // 2]
    writer.write(half if announced else b"%x\r\n%s\r\n" % (len(half), half))
    await writer.drain()
    folder = settings.storage.folder_path
    await until(lambda: parts(folder), "a part file")
    writer.transport.abort()  # the client is gone
    await until(lambda: not list(folder.iterdir()), "the part file removed")
    assert (await (await app_client.get("/stats")).json())["files"] == 0
    assert app_client.app[BODY_BUDGET].in_flight == 0


async def test_bodies_over_the_budget_get_503_and_retry_after(app_client):
    _, body = upload_body(600 * 1024)  # 800 KiB of JSON: one fits the 1 MiB budget, two do not
    first_reader, first = await open_upload(app_client, len(body))
    first.write(body[:1000])
    await first.drain()
    budget = app_client.app[BODY_BUDGET]
    await until(lambda: budget.in_flight == len(body), "the first body reserved")

    second = await app_client.post("/files", data=body, headers={**app_client.account.headers,
                                                                 "Content-Type": "application/json"})
    assert second.status == 503
    assert second.headers["retry-after"] == "1"
    assert await second.json() == {"error": "Service unavailable"}

    # a chunked body is counted as it arrives: refused once it would go over
    chunked_reader, chunked = await open_upload(app_client, None)
    for i in range(0, len(body), 64 * 1024):
        piece = body[i:i + 64 * 1024]
        chunked.write(b"%x\r\n%s\r\n" % (len(piece), piece))
    chunked.write(b"0\r\n\r\n")
    status, headers, _ = await raw_response(chunked_reader)
    assert status == 503 and headers["retry-after"] == "1"
    chunked.close()

    first.write(body[1000:])
    status, _, answer = await raw_response(first_reader)
    first.close()
    assert status == 201, answer
    assert budget.in_flight == 0
    retried = await app_client.post("/files", data=body, headers={**app_client.account.headers,
                                                                  "Content-Type": "application/json"})
    assert retried.status == 201


async def test_a_body_larger_than_the_budget_alone_is_admitted(app_client, settings):
    content, body = upload_body(2 * 1024 * 1024)  # 2.7 MiB of JSON > the 1 MiB budget
    resp = await app_client.post("/files", data=body, headers={**app_client.account.headers,
                                                               "Content-Type": "application/json"})
    assert resp.status == 201
    (blob,) = list(settings.storage.folder_path.iterdir())
    assert blob.read_bytes() == content


async def test_json_bodies_other_than_uploads_are_capped_at_1_mib(app_client):
    resp = await app_client.post("/users", json={"email": "a@b.c", "password": "x" * (1024 * 1024)})
    assert resp.status == 413
    assert (await resp.json())["error"].startswith("Request body too large")
