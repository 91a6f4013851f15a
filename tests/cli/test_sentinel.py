"""The operator's commands on a Sentinel-managed Redis: `check` finds the
master through the sentinels, `queue` reads it."""

from __future__ import annotations

from shared.jobs import THUMBNAILS, Job, stream_of
from tests.engines.sentinel import SentinelRedis

from .conftest import cli


def test_check_and_queue_reach_the_master_through_the_sentinels(sqlite_env, sentinel_engine: SentinelRedis):
    env = {**sqlite_env, "REDIS_URL": sentinel_engine.url}
    done = cli(env, "check", "--json")
    assert done.code == 0, done.stdout + done.stderr
    redis = next(c for c in done.json()["checks"] if c["name"] == "redis")
    assert redis["ok"] is True and redis["url"] == sentinel_engine.url
    assert redis["version"].count(".") == 2
    with sentinel_engine.server(sentinel_engine.current_master()) as master:
        master.xadd(stream_of(THUMBNAILS), Job(THUMBNAILS, {"fileId": "f", "userId": "u"}).fields())
    status = cli(env, "queue", "status", "--json")
    assert status.code == 0, status.stdout + status.stderr
    assert status.json()["streams"][THUMBNAILS]["length"] == 1  # the job written on the master
