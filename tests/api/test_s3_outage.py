"""The S3 endpoint gone while the service runs: every request that needs it
is answered 503 with a JSON error (never a 500, never a hang); what needs only
the database and Redis still works."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from services.api.app import create_app
from services.api.edge import RUNNER_OPTIONS
from shared.config import Settings
from tests.engines.s3 import S3Bucket, make_bucket, running_s3, with_s3

from .conftest import sign_up

TUS = {"Tus-Resumable": "1.0.0"}


async def test_requests_that_need_the_store_get_503_while_it_is_away(
        aiohttp_client, aiohttp_server, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with running_s3(tmp_path) as server:
        for name, value in server.env.items():
            monkeypatch.setenv(name, value)
        bucket = make_bucket(server)
        app = create_app(with_s3(settings, S3Bucket(server, bucket, f"s3://{bucket}/files")))
        client = await aiohttp_client(await aiohttp_server(app, **RUNNER_OPTIONS))
        account = await sign_up(client)
        resp = await client.post("/files", headers=account.headers, json={
            "name": "kept.txt", "type": "file", "data": base64.b64encode(b"kept\n").decode()})
        assert resp.status == 201, await resp.text()
        kept = (await resp.json())["id"]
    # the endpoint is gone from here on

    unavailable = [
        await client.get(f"/files/{kept}/data", headers=account.headers),
        await client.get(f"/v2/files/{kept}/content", headers={"Authorization": f"Bearer {account.token}"}),
        await client.post("/files", headers=account.headers, json={
            "name": "new.txt", "type": "file", "data": base64.b64encode(b"new\n").decode()}),
        await client.put(f"/v2/files/{kept}/content", data=b"other bytes",
                         headers={"Authorization": f"Bearer {account.token}"}),
        await client.get("/readyz"),
    ]
    resp = await client.post("/v2/uploads", headers={
        **TUS, "Authorization": f"Bearer {account.token}", "Upload-Length": "5",
        "Upload-Metadata": "filename " + base64.b64encode(b"t.txt").decode()})
    assert resp.status == 201, await resp.text()
    unavailable.append(await client.patch(resp.headers["Location"], data=b"12345", headers={
        **TUS, "Authorization": f"Bearer {account.token}", "Upload-Offset": "0",
        "Content-Type": "application/offset+octet-stream"}))

    for answer in unavailable:
        assert answer.status == 503, (answer.method, answer.url.path, answer.status, await answer.text())
    assert (await unavailable[4].json())["blobs"] is False
    for answer in unavailable[:4]:
        assert "error" in await answer.json()

    # What needs no content still works, and nothing was written by the refused requests.
    resp = await client.get("/files", headers=account.headers)
    assert resp.status == 200
    assert [item["name"] for item in await resp.json()] == ["kept.txt"]
    resp = await client.get(f"/files/{kept}", headers=account.headers)
    assert (resp.status, (await resp.json())["name"]) == (200, "kept.txt")
