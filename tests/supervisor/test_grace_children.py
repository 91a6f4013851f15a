"""The grace core inside real forked children, under the real master."""

from __future__ import annotations

import signal
import sys

import pytest

from .conftest import Service


@pytest.fixture
def grace_master(sup_env):
    started: list[Service] = []

    def start(mode: str) -> Service:
        command = [sys.executable, "-m", "tests.supervisor.grace_children"]
        service = Service(sup_env, [mode], command=command)
        started.append(service)
        return service

    yield start
    for service in started:
        service.kill_everything()


def test_an_escaped_error_in_a_child_exits_1_and_is_replaced(grace_master):
    service = grace_master("escape").ready()
    error = service.wait_for("child.error")
    assert error["fatal"] is True and error["where"] == "task poller"
    assert "background task died" in error["exception"]
    exit_event = service.wait_for("child.exit")
    assert exit_event["code"] == 1 and exit_event["expected"] is False
    restart = service.wait_for("child.restart")
    assert restart["crashed"] is True and restart["cause"] == "exited with code 1"
    service.wait_for("child.ready", where=lambda e: "pid" in e and e["generation"] == 1
                     and e["pid"] != exit_event["pid"])
    service.signal(signal.SIGINT)
    assert service.wait_exit() == 0


def test_a_child_calling_shutdown_0_is_replaced_without_counting_a_crash(grace_master):
    service = grace_master("shutdown").ready()
    exit_event = service.wait_for("child.exit")
    assert exit_event["code"] == 0 and exit_event["expected"] is False
    restart = service.wait_for("child.restart")
    assert restart["crashed"] is False and restart["delay"] == 0
    service.signal(signal.SIGINT)
    assert service.wait_exit() == 0
    assert service.named("master.crash_loop") == []


def test_a_contained_error_is_logged_once_and_the_child_goes_on(grace_master):
    service = grace_master("contain").ready()
    [error] = service.named("child.error")
    assert error["fatal"] is False and error["job"] == "j2"
    assert "one bad job" in error["exception"]
    service.signal(signal.SIGINT)
    assert service.wait_exit() == 0
    [exit_event] = service.named("child.exit")
    assert exit_event["code"] == 0 and exit_event["expected"] is True
    assert service.named("child.restart") == []
