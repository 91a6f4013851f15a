"""systemd's notify protocol, read from a Unix datagram socket the test binds."""

from __future__ import annotations

import signal
import socket
import time

import pytest


class NotifySocket:
    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages: list[str] = []

    def wait_for(self, line: str, timeout: float = 20.0, after: int = 0) -> int:
        """Index of the first message (from `after`) holding `line`, reading until it comes."""
        deadline = time.monotonic() + timeout
        while True:
            for i, message in enumerate(self.messages[after:], after):
                if line in message.split("\n"):
                    return i
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {line!r} within {timeout}s: {self.messages}")
            self.sock.settimeout(left)
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                pass


@pytest.fixture
def notify(tmp_path):
    box = NotifySocket(str(tmp_path / "notify.sock"))
    yield box
    box.sock.close()


def test_sd_notify_ready_reload_watchdog_stopping(start_service, notify, tmp_path):
    service = start_service(NOTIFY_SOCKET=str(tmp_path / "notify.sock"), WATCHDOG_USEC="200000",
                            JOB_WORKERS="1")
    ready = notify.wait_for("READY=1")
    # READY=1 only once every child serves
    assert service.wait_for("master.ready", timeout=5)
    assert len([e for e in service.named("child.ready") if "pid" in e]) == 3
    assert any(m.startswith("STATUS=") for m in notify.messages[: ready + 1])
    first_watchdog = notify.wait_for("WATCHDOG=1")
    assert first_watchdog > ready
    count = len(notify.messages)
    service.signal(signal.SIGHUP)
    reloading = notify.wait_for("RELOADING=1")
    assert reloading >= count
    service.wait_for("reload.done")
    again = notify.wait_for("READY=1", after=reloading + 1)
    assert again is not None and again > reloading
    service.signal(signal.SIGTERM)
    stopping = notify.wait_for("STOPPING=1")
    assert stopping > again
    assert service.wait_exit() == 0


def test_without_notify_socket_nothing_is_sent(start_service):
    service = start_service().ready()  # NOTIFY_SOCKET unset: must simply work
    service.signal(signal.SIGINT)
    assert service.wait_exit() == 0
