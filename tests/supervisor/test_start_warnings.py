"""What would not survive is said once, at the master's start: content under
/tmp (a reboot empties it, the metadata stays) and a Redis that keeps nothing on
disk (a Redis restart loses tokens and queued jobs)."""

from __future__ import annotations

import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.redis_client import open_redis
from shared.redis_persistence import Persistence, warn_if_not_durable
from tests.conftest import private_redis


class Recorder:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict]] = []

    def __getattr__(self, level: str):
        return lambda event, **fields: self.lines.append((level, event, fields))


@pytest.fixture
def lasting_folder() -> Iterator[Path]:
    """A folder outside /tmp (removed afterwards)."""
    folder = Path(tempfile.mkdtemp(prefix="fm-test-", dir="/var/tmp"))
    yield folder / "files"
    shutil.rmtree(folder, ignore_errors=True)


def test_content_under_tmp_and_a_redis_keeping_nothing_are_warned_about_once(start_service):
    # The tests' FOLDER_PATH is under pytest's tmp_path, in /tmp; their Redis has neither AOF nor RDB.
    service = start_service(API_WORKERS="2", JOB_WORKERS="1").ready()
    folder = service.named("storage.volatile_folder")
    redis = service.named("redis.not_persistent")
    assert len(folder) == 1 and len(redis) == 1, [e.get("event") for e in service.events]
    assert folder[0]["level"] == redis[0]["level"] == "warning"
    assert folder[0]["role"] == redis[0]["role"] == "master"
    assert "FOLDER_PATH" in folder[0]["consequence"] and "appendonly yes" in redis[0]["consequence"]
    events = [e.get("event") for e in service.events]
    assert events.index("redis.not_persistent") < events.index("child.spawn")  # before any child
    service.signal(signal.SIGINT)
    assert service.wait_exit() == 0


def test_lasting_content_and_a_redis_with_aof_are_not_warned_about(start_service, tmp_path, lasting_folder):
    with private_redis(tmp_path, "--appendonly", "yes") as (url, _):
        service = start_service(REDIS_URL=url, FOLDER_PATH=str(lasting_folder)).ready()
        service.signal(signal.SIGINT)
        assert service.wait_exit() == 0
    events = {e.get("event") for e in service.events}
    assert not events & {"storage.volatile_folder", "redis.not_persistent", "redis.snapshots_only"}


@pytest.mark.parametrize(("options", "expected", "lines"), [
    ((), Persistence(aof=False, snapshots=""), [("warning", "redis.not_persistent")]),
    (("--save", "60 1"), Persistence(aof=False, snapshots="60 1"), [("info", "redis.snapshots_only")]),
    (("--appendonly", "yes"), Persistence(aof=True, snapshots=""), []),
    # A managed Redis may refuse CONFIG: nothing is claimed, a debug line says why.
    (("--rename-command", "CONFIG", ""), None, [("debug", "redis.persistence_unknown")]),
])
async def test_what_redis_keeps_on_disk(tmp_path, options, expected, lines):
    with private_redis(tmp_path, *options) as (url, _):
        client = open_redis(url)
        log = Recorder()
        try:
            assert await warn_if_not_durable(client, log) == expected
        finally:
            await client.aclose()
    assert [(level, event) for level, event, _ in log.lines] == lines
