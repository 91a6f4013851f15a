"""Crashes, hangs, crash loops and scaling, with real signals to real children."""

from __future__ import annotations

import base64
import os
import signal
import time
import urllib.request

from .conftest import alive


def status_ok(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/status", timeout=5) as resp:
        return resp.status == 200


def test_a_sigkilled_child_is_replaced_within_a_second(start_service):
    service = start_service().ready()
    victim = service.children("api")[0]
    mark = service.mark()
    killed_at = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    exit_event = service.wait_for("child.exit", after=mark, where=lambda e: e["pid"] == victim)
    assert exit_event["signal"] == "SIGKILL" and exit_event["expected"] is False
    restart = service.wait_for("child.restart", after=mark)
    assert restart["crashed"] is True and restart["delay"] == 0
    ready = service.wait_for("child.ready", after=mark, where=lambda e: "pid" in e)
    replaced_in = time.monotonic() - killed_at
    assert replaced_in < 1.0, replaced_in
    assert ready["pid"] != victim and ready["index"] == exit_event["index"]
    assert status_ok(service.url)
    assert len(service.children("api")) == 2
    service.signal(signal.SIGINT)
    assert service.wait_exit() == 0


def test_a_stopped_child_is_taken_for_hung_and_replaced(start_service):
    service = start_service(HEARTBEAT_TIMEOUT="1").ready()
    victim = service.children("api")[1]
    mark = service.mark()
    stopped_at = time.monotonic()
    os.kill(victim, signal.SIGSTOP)
    hung = service.wait_for("child.hung", after=mark)
    assert hung["pid"] == victim
    assert time.monotonic() - stopped_at >= 1.0
    assert service.wait_for("child.exit", after=mark,
                            where=lambda e: e["pid"] == victim)["signal"] == "SIGKILL"
    ready = service.wait_for("child.ready", after=mark, where=lambda e: "pid" in e)
    assert ready["pid"] != victim
    assert not alive(victim)
    assert status_ok(service.url)
    service.signal(signal.SIGINT)
    assert service.wait_exit() == 0


def test_work_off_the_loop_is_not_taken_for_hung(start_service):
    """Password hashing runs in threads: a sign-up that hashes for longer than
    the heartbeat timeout keeps the worker's loop (and its heartbeats) alive."""
    service = start_service(HEARTBEAT_TIMEOUT="1", API_WORKERS="1",
                            ARGON2_TIME_COST="6", ARGON2_MEMORY_KIB="262144").ready()
    body = b'{"email": "slow@example.com", "password": "pw"}'
    began = time.monotonic()
    request = urllib.request.Request(f"{service.url}/users", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as resp:
        assert resp.status == 201
    hashing = time.monotonic() - began
    assert hashing > 1.0, f"the sign-up hashed for {hashing:.2f}s: not longer than the timeout"
    auth = "Basic " + base64.b64encode(b"slow@example.com:pw").decode()
    with urllib.request.urlopen(urllib.request.Request(
            f"{service.url}/connect", headers={"Authorization": auth}), timeout=60) as resp:
        assert resp.status == 200
    assert service.named("child.hung") == []
    assert service.named("child.exit") == []
    service.signal(signal.SIGINT)
    assert service.wait_exit() == 0


def test_a_crash_loop_makes_the_master_give_up_with_1(start_service, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("FOLDER_PATH cannot be created under a file")
    service = start_service(FOLDER_PATH=str(blocker / "files"), CRASH_LIMIT="3",
                            CRASH_WINDOW="60", API_WORKERS="1")
    assert service.wait_exit(60) == 1
    loop = service.wait_for("master.crash_loop")
    assert loop["child"] == "api worker 1" and "exited with code 1" in loop["cause"]
    restarts = service.named("child.restart")
    assert len(restarts) == 3
    delays = [r["delay"] for r in restarts]
    assert delays == sorted(delays) and delays[-1] > 0  # backing off
    assert service.wait_for("exit")["code"] == 1
    assert service.named("master.ready") == []


def test_sigttin_adds_and_sigttou_removes_an_api_worker(start_service):
    service = start_service(API_WORKERS="1").ready()
    mark = service.mark()
    service.signal(signal.SIGTTIN)
    added = service.wait_for("child.ready", after=mark, where=lambda e: e.get("index") == 2
                             and "pid" in e)
    assert len(service.children("api")) == 2
    with open(f"/proc/{added['pid']}/cmdline", "rb") as fh:
        assert fh.read().startswith(b"files-manager: api worker 2")
    mark = service.mark()
    service.signal(signal.SIGTTOU)
    gone = service.wait_for("child.exit", after=mark)
    assert gone["pid"] == added["pid"] and gone["expected"] is True and gone["code"] == 0
    service.signal(signal.SIGTTOU)  # never below one worker
    service.wait_for("scale.refused", after=mark)
    assert service.named("child.restart") == []
    assert status_ok(service.url)
    service.signal(signal.SIGINT)
    assert service.wait_exit() == 0


def test_a_retired_child_that_does_not_leave_is_killed_after_the_graceful_timeout(start_service):
    service = start_service(API_WORKERS="2", GRACEFUL_TIMEOUT="1", HEARTBEAT_TIMEOUT="30").ready()
    stuck = service.children("api")[1]  # api worker 2, the one SIGTTOU retires
    os.kill(stuck, signal.SIGSTOP)
    mark = service.mark()
    service.signal(signal.SIGTTOU)
    forced = service.wait_for("child.forced", after=mark)
    assert forced["pid"] == stuck
    gone = service.wait_for("child.exit", after=mark, where=lambda e: e["pid"] == stuck)
    assert gone["signal"] == "SIGKILL" and gone["expected"] is True
    assert service.named("child.restart") == []
    assert status_ok(service.url)
    service.signal(signal.SIGINT)
    assert service.wait_exit() == 0
