"""SIGHUP: a rolling reload under continuous requests fails none."""

from __future__ import annotations

import asyncio
import re
import signal
import urllib.request
from pathlib import Path

import aiohttp

from .conftest import alive


async def hammer(url: str, stop: asyncio.Event, outcomes: list) -> None:
    """One keep-alive client sending requests back to back until told to stop."""
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            try:
                async with session.get(f"{url}/status") as resp:
                    await resp.read()
                    outcomes.append(resp.status)
            except Exception as exc:  # noqa: BLE001 - every failure is kept for the assertion
                outcomes.append(exc)


async def test_sighup_under_continuous_requests_fails_none(start_service):
    service = start_service(API_WORKERS="2", JOB_WORKERS="1")
    await asyncio.to_thread(service.ready)
    old = set(service.children())
    stop = asyncio.Event()
    outcomes: list = []
    clients = [asyncio.create_task(hammer(service.url, stop, outcomes)) for _ in range(8)]
    while len(outcomes) < 200:
        await asyncio.sleep(0.01)
    mark = service.mark()
    service.signal(signal.SIGHUP)
    await asyncio.to_thread(service.wait_for, "reload.start", 20, mark)
    done = await asyncio.to_thread(service.wait_for, "reload.done", 30, mark)
    assert done["generation"] == 2
    for pid in old:  # every old child retired, cleanly
        exit_event = await asyncio.to_thread(service.wait_for, "child.exit", 30, mark,
                                             lambda e, pid=pid: e["pid"] == pid)
        assert exit_event["code"] == 0 and exit_event["expected"] is True
    after = len(outcomes)
    while len(outcomes) < after + 200:
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.gather(*clients)
    failures = [o for o in outcomes if o != 200]
    assert failures == [], failures[:5]
    new = set(service.children())
    assert len(new) == 3 and not new & old
    assert not any(alive(pid) for pid in old)
    assert service.named("child.restart") == []
    # every new child was serving before any old one was asked to stop
    names = [(e.get("event"), e.get("pid")) for e in service.events[mark:]]
    first_exit = min(i for i, (name, pid) in enumerate(names) if name == "child.exit")
    ready_new = [i for i, (name, pid) in enumerate(names) if name == "child.ready" and pid in new]
    assert len(ready_new) == 3 and max(ready_new) < first_exit
    service.signal(signal.SIGTERM)
    assert await asyncio.to_thread(service.wait_exit) == 0


def test_reload_rereads_the_config_and_a_bad_one_keeps_serving(start_service, tmp_path):
    from shared.config import DEFAULT_CONFIG, cpu_count

    config = tmp_path / "config.toml"
    text = DEFAULT_CONFIG.read_text()
    config.write_text(text)
    service = start_service("--config", str(config), API_WORKERS="", JOB_WORKERS="").ready()
    before = len(service.children("api"))
    old = service.children()
    assert len(service.children("job")) == 1
    config.write_text(text.replace("workers = 0 ", "workers = 3 ").replace(
        "processes = 1 ", "processes = 0 "))
    mark = service.mark()
    service.signal(signal.SIGHUP)
    service.wait_for("reload.done", after=mark)
    for pid in old:
        service.wait_for("child.exit", after=mark, where=lambda e, pid=pid: e["pid"] == pid)
    assert before == cpu_count() and len(service.children("api")) == 3
    assert service.children("job") == []
    config.write_text("this is [not toml")
    mark = service.mark()
    service.signal(signal.SIGHUP)
    failed = service.wait_for("reload.failed", after=mark)
    assert "invalid TOML" in failed["error"]
    assert len(service.children("api")) == 3
    service.signal(signal.SIGINT)
    assert service.wait_exit() == 0


def test_a_draining_worker_answers_keep_alive_clients_with_connection_close(start_service):
    """What keeps wrk-style clients (request right after response) from ever
    writing into a connection the old worker is closing."""
    import socket

    service = start_service(API_WORKERS="1").ready()
    request = b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n"

    def exchange(sock: socket.socket) -> bytes:
        sock.sendall(request)
        data = b""
        while not (b"\r\n\r\n" in data and data.endswith(b"}")):
            chunk = sock.recv(65536)
            assert chunk, f"connection closed without an answer after {data!r}"
            data += chunk
        return data

    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        first = exchange(sock)
        assert b"Connection: close" not in first
        mark = service.mark()
        service.signal(signal.SIGHUP)
        service.wait_for("reload.done", after=mark)  # the old worker is draining now
        last = exchange(sock)
        assert last.startswith(b"HTTP/1.1 200") and b"Connection: close" in last
        assert sock.recv(1) == b""  # and then it closes, cleanly
    service.signal(signal.SIGINT)
    assert service.wait_exit() == 0


def test_a_reload_whose_new_children_crash_keeps_the_old_ones(start_service, tmp_path):
    from shared.config import DEFAULT_CONFIG

    config = tmp_path / "config.toml"
    text = DEFAULT_CONFIG.read_text()

    def with_folder(folder: Path) -> str:
        changed = re.sub(r'^folder_path = ".*?"', f'folder_path = "{folder}"', text, count=1, flags=re.M)
        assert changed != text
        return changed

    config.write_text(with_folder(tmp_path / "files"))
    service = start_service("--config", str(config), FOLDER_PATH="").ready()
    old = sorted(service.children())
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    config.write_text(with_folder(blocker / "files"))
    mark = service.mark()
    service.signal(signal.SIGHUP)
    failed = service.wait_for("reload.failed", after=mark)
    assert "exited with code 1" in failed["error"]
    assert service.named("reload.done") == []
    # the new generation goes, the old one keeps serving
    for e in [e for e in service.events[mark:] if e.get("event") == "child.spawn"]:
        service.wait_for("child.exit", after=mark, where=lambda x, pid=e["pid"]: x["pid"] == pid)
    assert sorted(service.children()) == old
    with urllib.request.urlopen(f"{service.url}/status", timeout=5) as resp:
        assert resp.status == 200
    service.signal(signal.SIGINT)
    assert service.wait_exit() == 0
