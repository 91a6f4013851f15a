"""GET /livez and GET /readyz against real backends taken away and given back:
a redis-server of the test's own stopped and started again, the SQLite file
locked by another connection, the content folder moved away. /readyz answers
within about server.readiness_timeout whatever is down (asserted with a wide
margin: never a timing the machine's load could break) and comes back by
itself; /livez checks nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient

from services.api.app import create_app
from services.api.edge import RUNNER_OPTIONS
from services.api.keys import DRAIN
from shared.config import Settings, load_settings
from tests.conftest import private_redis, service_env

ANSWERED_WITHIN = 5.0  # seconds: far above the 1 s readiness timeout, far below a hang
ALL_UP = {"redis": True, "db": True, "blobs": True}


@pytest.fixture
def redis_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "redis"
    folder.mkdir()
    return folder


@pytest.fixture
def own_redis(redis_folder: Path):
    """(url, process) of a redis-server only this test uses."""
    with private_redis(redis_folder) as (url, proc):
        yield url, proc


@pytest.fixture
def own_settings(tmp_path: Path, own_redis) -> Settings:
    return load_settings(env=service_env(tmp_path / "service", own_redis[0]))


@pytest.fixture
async def app_client(aiohttp_client, aiohttp_server, own_settings: Settings) -> AsyncIterator[TestClient]:
    yield await aiohttp_client(await aiohttp_server(create_app(own_settings), **RUNNER_OPTIONS))


async def readyz(client: TestClient) -> tuple[int, dict]:
    """One /readyz answer; it must come well within ANSWERED_WITHIN."""
    started = time.monotonic()
    resp = await client.get("/readyz")
    body = await resp.json()
    assert time.monotonic() - started < ANSWERED_WITHIN, "/readyz hung past its timeout"
    return resp.status, body


async def readyz_until(client: TestClient, status: int, body: dict, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        seen = await readyz(client)
        if seen == (status, body):
            return
        assert time.monotonic() < deadline, f"/readyz still answers {seen}, not {(status, body)}"
        await asyncio.sleep(0.05)


async def test_ready_when_every_backend_answers(app_client):
    assert await readyz(app_client) == (200, ALL_UP)
    resp = await app_client.get("/livez")
    assert (resp.status, await resp.json()) == (200, {"live": True})


async def test_redis_stopped_reads_503_then_200_again_once_it_is_back(app_client, own_redis, redis_folder):
    url, proc = own_redis
    proc.terminate()
    proc.wait(10)
    await readyz_until(app_client, 503, {"redis": False, "db": True, "blobs": True})
    resp = await app_client.get("/livez")  # liveness does not depend on a backend
    assert resp.status == 200
    # v1's /status keeps its contract: always 200, the two backends it names.
    resp = await app_client.get("/status")
    assert (resp.status, await resp.json()) == (200, {"redis": False, "db": True})
    with private_redis(redis_folder, port=urlsplit(url).port):
        await readyz_until(app_client, 200, ALL_UP)


async def test_redis_that_does_not_answer_reads_false_within_the_timeout(app_client, own_redis):
    """A redis-server that accepts but never answers (stopped by SIGSTOP): the
    PING is given up after the timeout, not waited for."""
    _, proc = own_redis
    assert await readyz(app_client) == (200, ALL_UP)
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        assert await readyz(app_client) == (503, {"redis": False, "db": True, "blobs": True})
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    await readyz_until(app_client, 200, ALL_UP)


async def test_sqlite_locked_by_another_connection_reads_false_without_blocking(app_client, own_settings):
    assert await readyz(app_client) == (200, ALL_UP)
    other = sqlite3.connect(own_settings.storage.db_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")  # WAL: reads go on, every write waits
        probe = asyncio.ensure_future(readyz(app_client))
        # The event loop is not held by the waiting check: another request is answered meanwhile.
        resp = await app_client.get("/livez")
        assert resp.status == 200
        assert await probe == (503, {"redis": True, "db": False, "blobs": True})
    finally:
        other.execute("ROLLBACK")
        other.close()
    await readyz_until(app_client, 200, ALL_UP)


async def test_the_content_folder_moved_away_reads_false_then_back(app_client, own_settings):
    folder = own_settings.storage.folder_path
    assert await readyz(app_client) == (200, ALL_UP)
    moved = folder.with_name("moved-away")
    folder.rename(moved)
    try:
        await readyz_until(app_client, 503, {"redis": True, "db": True, "blobs": False})
    finally:
        moved.rename(folder)
    await readyz_until(app_client, 200, ALL_UP)
    assert [p.name for p in folder.iterdir() if p.name.startswith(".readyz-")] == []  # the probe's file is gone


async def test_draining_reads_503_at_once(app_client):
    assert await readyz(app_client) == (200, ALL_UP)
    app_client.server.app[DRAIN].active = True
    assert await readyz(app_client) == (503, {"draining": True})
    resp = await app_client.get("/livez")  # still serving what is in flight
    assert resp.status == 200
