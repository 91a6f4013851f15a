"""The API's enqueues wait for a replica: a request that enqueued a job is
answered once the master's replica holds the job (issue 15, Redis Sentinel)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from services.api.app import create_app
from services.api.edge import RUNNER_OPTIONS
from shared.config import Settings
from shared.jobs import stream_of
from shared.redis_client import open_redis
from tests.conftest import until
from tests.replicas import in_sync, master_and_replica, wait_calls


@pytest.fixture
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with master_and_replica(tmp_path_factory.mktemp("redis")) as (master, replica, _):
        yield master, replica


async def test_a_sign_up_is_answered_once_the_replica_holds_its_welcome_job(
        settings: Settings, replicated, aiohttp_client, aiohttp_server) -> None:
    master_url, replica_url = replicated
    master, replica = open_redis(master_url), open_redis(replica_url)
    try:
        await until(lambda: in_sync(master, replica), what="the replica in sync")
        app = create_app(settings.replace(redis={"url": master_url, "replica_wait_timeout": 5.0}))
        client = await aiohttp_client(await aiohttp_server(app, **RUNNER_OPTIONS))
        before = await wait_calls(master)
        resp = await client.post("/users", json={"email": "w@x.io", "password": "pw"})
        assert resp.status == 201
        user_id = (await resp.json())["id"]
        # Read from the replica right away: no polling, the WAIT made sure.
        entries = await replica.xrange(stream_of("welcome"))
        assert [json.loads(fields[b"data"])["userId"] for _, fields in entries] == [user_id]
        assert await wait_calls(master) > before
    finally:
        await master.aclose()
        await replica.aclose()
