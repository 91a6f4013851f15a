"""A full disk under FOLDER_PATH: the upload gets 507 and leaves nothing (no
part file, no blob, no document, no job). On a real full file system: a small
tmpfs mounted for the test (CI runs as root)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from services.api.app import create_app
from shared.jobs import stream_of

from .conftest import b64, sign_up

SIZE = 2 * 1024 * 1024


@pytest.fixture
def small_disk(tmpfs) -> Path:
    return tmpfs(str(SIZE))


@pytest.fixture
async def full_client(aiohttp_client, settings, small_disk):
    return await aiohttp_client(create_app(settings.replace(storage={"folder_path": small_disk})))


async def stats(client) -> dict:
    return await (await client.get("/stats")).json()


@pytest.mark.parametrize("file_type", ["file", "image"])
async def test_an_upload_that_does_not_fit_is_507_and_leaves_nothing(full_client, small_disk, settings, file_type,
                                                                      capsys):
    alice = await sign_up(full_client)
    kept = os.urandom(SIZE // 2)
    resp = await full_client.post("/files", json={"name": "first.bin", "type": "file", "data": b64(kept)},
                                  headers=alice.headers)
    assert resp.status == 201
    before = sorted(os.listdir(small_disk))

    resp = await full_client.post("/files", json={"name": "big.png", "type": file_type,
                                                  "data": b64(os.urandom(SIZE))}, headers=alice.headers)
    assert resp.status == 507
    assert await resp.json() == {"error": "Insufficient storage"}
    assert '"event":"storage.full"' in capsys.readouterr().out  # the operator is told
    assert sorted(os.listdir(small_disk)) == before  # no part file, no blob
    assert (await stats(full_client))["files"] == 1
    async with aioredis.from_url(settings.redis.url) as r:
        assert await r.xlen(stream_of("thumbnails")) == 0
    (first,) = before
    assert (small_disk / first).read_bytes() == kept  # what was there is untouched

    # room again: the next upload goes through
    os.unlink(small_disk / first)
    resp = await full_client.post("/files", json={"name": "again.bin", "type": "file", "data": b64(kept)},
                                  headers=alice.headers)
    assert resp.status == 201
