"""A job worker (re)started while Redis is out of reach (a failover under way,
Redis restarting) waits for it instead of exiting: exiting again and again
would be a crash loop, and the master would take the whole node down. A stop
asked meanwhile ends the wait."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from urllib.parse import urlsplit

from tests.conftest import private_redis


def _waiting_at_start(event: dict) -> bool:
    return event.get("during") == "start"


def test_a_job_worker_restarted_during_a_redis_outage_waits_for_it(start_service, tmp_path: Path):
    folder = tmp_path / "redis"
    folder.mkdir()
    with private_redis(folder) as (url, _):
        service = start_service(REDIS_URL=url, API_WORKERS="1", JOB_WORKERS="1").ready()
        service.wait_for("worker.start")
    # Redis is gone; the job worker dies and is replaced.
    [worker] = service.children("job")
    os.kill(worker, signal.SIGKILL)
    service.wait_for("worker.redis_error", where=_waiting_at_start)
    [waiting] = service.children("job")
    assert waiting != worker
    with private_redis(folder, port=urlsplit(url).port):
        service.wait_for("child.ready", where=lambda e: e.get("pid") == waiting, timeout=30)
        assert service.children("job") == [waiting]  # the same process: it waited, it did not exit
        assert service.named("master.crash_loop") == []
        assert len([e for e in service.named("child.restart") if e["kind"] == "job"]) == 1
        service.signal(signal.SIGINT)
        assert service.wait_exit() == 0


def test_a_stop_ends_a_job_workers_wait_for_redis_at_its_start(start_service, tmp_path: Path):
    folder = tmp_path / "redis"
    folder.mkdir()
    with private_redis(folder) as (url, _):
        service = start_service(REDIS_URL=url, API_WORKERS="1", JOB_WORKERS="1",
                                GRACEFUL_TIMEOUT="600").ready()
        service.wait_for("worker.start")
    [worker] = service.children("job")
    os.kill(worker, signal.SIGKILL)
    service.wait_for("worker.redis_error", where=_waiting_at_start)
    service.signal(signal.SIGINT)
    assert service.wait_exit() == 0  # well within the graceful timeout: nothing had to be killed
    assert service.named("child.forced") == []
    [exit_] = [e for e in service.named("child.exit") if e["kind"] == "job" and e["pid"] != worker]
    assert exit_["code"] == 0, service.named("child.error")
