"""Socket activation: started with LISTEN_FDS/LISTEN_PID (systemd's .socket
unit), the master serves the socket at fd 3 and binds nothing."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .conftest import Service
from .test_upgrade import Load, event, stop_new_master, upgrade_and_check

AS_SYSTEMD = Path(__file__).with_name("as_systemd.py")


@pytest.fixture
def listening() -> Iterator[socket.socket]:
    """A socket bound and listening as systemd's ListenStream= leaves it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    yield sock
    sock.close()


@pytest.fixture
def activated(sup_env: dict[str, str], listening: socket.socket) -> Iterator[Callable[..., Service]]:
    """supervisor.py started through as_systemd.py with `listening` passed."""
    started: list[Service] = []

    def start(*wrapper_args: str, **env: str) -> Service:
        fd = listening.fileno()
        port = str(listening.getsockname()[1])
        service = Service({**sup_env, "PORT": port, **env}, [],
                          command=[sys.executable, str(AS_SYSTEMD), "--socket", str(fd),
                                   *wrapper_args, "--"],
                          pass_fds=(fd,))
        started.append(service)
        return service

    yield start
    for service in started:
        service.kill_everything()


def status(url: str) -> int:
    with urllib.request.urlopen(f"{url}/status", timeout=10) as resp:
        return resp.status


def test_the_passed_socket_is_served_and_none_is_bound(activated, listening):
    # PORT is the passed socket's own port: binding it again would fail (exit 3),
    # so serving at all proves the master took fd 3.
    service = activated().ready()
    came = service.wait_for("master.socket")
    assert came["source"] == "systemd"
    assert came["address"] == f"127.0.0.1:{listening.getsockname()[1]}"
    assert service.named("master.bind_failed") == []
    for _ in range(20):  # fresh connections, both workers
        assert status(service.url) == 200
    service.signal(signal.SIGTERM)
    assert service.wait_exit() == 0
    # The socket is systemd's: still listening after the service stopped, so a
    # connection made now waits for the next start instead of being refused.
    with socket.create_connection(listening.getsockname(), timeout=5):
        pass


def test_the_passed_socket_wins_over_the_configured_port(activated, listening):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        configured = other.getsockname()[1]
    service = activated(PORT=str(configured)).ready()
    came = service.wait_for("master.socket")
    assert came["source"] == "systemd" and came["configured"].endswith(f":{configured}")
    assert status(f"http://127.0.0.1:{listening.getsockname()[1]}") == 200
    with pytest.raises(OSError):
        status(f"http://127.0.0.1:{configured}")
    service.signal(signal.SIGINT)
    assert service.wait_exit() == 0


def test_variables_naming_another_pid_are_not_ours(activated, listening, sup_env):
    # An ancestor's LISTEN_PID: not for us, so the master binds its own port.
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        port = other.getsockname()[1]
    service = activated("--listen-pid", "1", PORT=str(port)).ready()
    came = service.wait_for("master.socket")
    assert came["source"] == "bound" and came["address"].endswith(f":{port}")
    assert status(service.url) == 200
    service.signal(signal.SIGTERM)
    assert service.wait_exit() == 0


def test_more_than_one_passed_socket_is_refused_clearly(activated):
    service = activated("--listen-fds", "2")
    assert service.wait_exit() == 3
    failed = service.wait_for("master.activation_failed")
    assert "LISTEN_FDS=2" in failed["error"]
    assert any("expected exactly one socket" in line for line in service.stderr)


async def test_a_socket_activated_master_upgrades_on_sigusr2(activated):
    service = activated()
    await asyncio.to_thread(service.ready)
    load = Load(service.url, keepalive=2, fresh=2)
    await load.more(200)
    mark = service.mark()
    new_master = await upgrade_and_check(service, load)
    assert await load.stop() == []
    took = await event(service, "master.socket", mark)
    assert took["address"] == service.url.removeprefix("http://")
    await stop_new_master(service, new_master)
