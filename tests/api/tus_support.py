"""What the tus tests share: headers, metadata, reading back the file an upload became."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from .conftest import Account

TUS = {"Tus-Resumable": "1.0.0"}
CHUNK = {"Content-Type": "application/offset+octet-stream"}


def metadata(**pairs: str | bytes) -> str:
    """An Upload-Metadata value, values base64 as the protocol wants."""
    def encode(value: str | bytes) -> str:
        return base64.b64encode(value.encode() if isinstance(value, str) else value).decode()
    return ",".join(f"{key} {encode(value)}" for key, value in pairs.items())


def tus(account: Account, **headers: str) -> dict[str, str]:
    return {**TUS, **account.headers, **{k.replace("_", "-"): v for k, v in headers.items()}}


def base_url(client: TestClient | aiohttp.ClientSession) -> str:
    """The server's http://host:port, whether in-process or the live service."""
    if isinstance(client, TestClient):
        return str(client.make_url("")).rstrip("/")
    return str(client._base_url).rstrip("/")


async def create(client, account: Account, length: int, name: str = "data.bin", body: bytes | None = None,
                 **extra: str) -> aiohttp.ClientResponse:
    headers = tus(account, Upload_Length=str(length), Upload_Metadata=metadata(filename=name), **extra)
    if body is not None:
        headers.update(CHUNK)
    return await client.post("/v2/uploads", headers=headers, data=body)


async def new_upload(client, account: Account, length: int, name: str = "data.bin") -> str:
    """A new upload's URL (an absolute path)."""
    resp = await create(client, account, length, name)
    assert resp.status == 201, await resp.text()
    return resp.headers["Location"]


async def patch(client, account: Account, url: str, offset: int, data: bytes, **extra: str) -> aiohttp.ClientResponse:
    return await client.patch(url, headers={**tus(account, Upload_Offset=str(offset), **extra), **CHUNK}, data=data)


async def offset_of(client, account: Account, url: str) -> int:
    resp = await client.head(url, headers=tus(account))
    assert resp.status == 200, resp.status
    return int(resp.headers["Upload-Offset"])


async def file_of(client, account: Account, file_id: str) -> dict[str, Any]:
    """The v2 document of the file an upload became."""
    resp = await client.get(f"/v2/files/{file_id}", headers=account.headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def content_of(client, account: Account, file_id: str) -> bytes:
    resp = await client.get(f"/files/{file_id}/data", headers=account.headers)
    assert resp.status == 200, await resp.text()
    return await resp.read()


async def assert_file(client, account: Account, file_id: str, content: bytes, name: str) -> dict[str, Any]:
    """The upload became exactly this file: name, size, sha256 and bytes."""
    document = await file_of(client, account, file_id)
    assert document["name"] == name
    assert document["size"] == len(content)
    assert document["sha256"] == hashlib.sha256(content).hexdigest()
    assert await content_of(client, account, file_id) == content
    return document
