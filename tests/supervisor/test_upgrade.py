"""SIGUSR2: a new master from the code on disk takes the socket over under
continuous requests (keep-alive and fresh connections) and none fails; a new
master that cannot start leaves the old one serving."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path

import aiohttp

from .conftest import Service, alive, wait_until

AS_SYSTEMD = Path(__file__).with_name("as_systemd.py")
_UCRED = struct.Struct("iII")  # struct ucred: pid, uid, gid


class Load:
    """GET /status back to back until stopped, from keep-alive clients and from
    clients opening a fresh connection for every request."""

    def __init__(self, url: str, keepalive: int = 4, fresh: int = 4) -> None:
        self.url = url
        self.outcomes: list = []
        self._stop = asyncio.Event()
        self._tasks = [asyncio.create_task(self._client(force_close=False)) for _ in range(keepalive)]
        self._tasks += [asyncio.create_task(self._client(force_close=True)) for _ in range(fresh)]

    async def _client(self, force_close: bool) -> None:
        connector = aiohttp.TCPConnector(force_close=force_close)
        async with aiohttp.ClientSession(connector=connector) as session:
            while not self._stop.is_set():
                try:
                    async with session.get(f"{self.url}/status") as resp:
                        await resp.read()
                        self.outcomes.append(resp.status)
                except Exception as exc:  # noqa: BLE001 - every failure is kept for the assertion
                    self.outcomes.append(exc)

    async def more(self, count: int, timeout: float = 60.0) -> None:
        """Wait until `count` more requests have had their outcome."""
        target = len(self.outcomes) + count
        deadline = time.monotonic() + timeout
        while len(self.outcomes) < target:
            assert time.monotonic() < deadline, f"the load stalled at {len(self.outcomes)}/{target}"
            await asyncio.sleep(0.01)

    async def stop(self) -> list:
        """The failures: anything but a 200."""
        self._stop.set()
        await asyncio.gather(*self._tasks)
        return [o for o in self.outcomes if o != 200]


async def event(service: Service, name: str, after: int, timeout: float = 60.0, **fields):
    return await asyncio.to_thread(
        service.wait_for, name, timeout, after,
        lambda e: all(e.get(key) == value for key, value in fields.items()))


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


def spawned_since(service: Service, mark: int) -> list[int]:
    return [e["pid"] for e in service.events[mark:] if e.get("event") == "child.spawn"]


def with_redis(url: str) -> str:
    """The default config.toml with [redis] url = `url`."""
    from shared.config import DEFAULT_CONFIG

    text = re.sub(r'^url = ".*?"', f'url = "{url}"', DEFAULT_CONFIG.read_text(), count=1, flags=re.M)
    assert url in text
    return text


def dead_redis() -> str:
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{unused.getsockname()[1]}/0"


async def stop_new_master(service: Service, pid: int) -> None:
    """The new master stops as any master does: SIGTERM, clean exit 0."""
    mark = service.mark()
    os.kill(pid, signal.SIGTERM)
    assert (await event(service, "exit", mark))["code"] == 0
    await asyncio.to_thread(wait_until, lambda: not alive(pid), 30, f"new master {pid} gone")


async def upgrade_and_check(service: Service, load: Load) -> int:
    """SIGUSR2 under `load`: the new master's pid, once the old master exited 0."""
    old_master = service.proc.pid
    old_children = set(service.children())
    mark = service.mark()
    service.signal(signal.SIGUSR2)
    start = await event(service, "upgrade.start", mark, old_pid=old_master)
    new_master = start["pid"]
    took = await event(service, "master.socket", mark)
    assert (took["source"], took["old_pid"]) == ("upgrade", old_master)
    await event(service, "upgrade.ready", mark, pid=new_master, old_pid=old_master)
    await event(service, "upgrade.done", mark, pid=new_master)
    assert await asyncio.to_thread(service.proc.wait, 60) == 0
    for pid in old_children:  # the old master drained its own children, cleanly
        gone = await event(service, "child.exit", mark, pid=pid)
        assert gone["code"] == 0 and gone["expected"] is True
        assert not alive(pid)
    new_children = spawned_since(service, mark)
    assert len(new_children) == len(old_children) and not set(new_children) & old_children
    assert all(parent_of(pid) == new_master for pid in new_children)
    # every new child was serving before any old one was asked to stop
    names = [(e.get("event"), e.get("pid")) for e in service.events[mark:]]
    first_exit = min(i for i, (name, pid) in enumerate(names) if name == "child.exit")
    ready = [i for i, (name, pid) in enumerate(names) if name == "child.ready" and pid in new_children]
    assert len(ready) == len(new_children) and max(ready) < first_exit
    await load.more(300)  # served by the new children alone now
    assert alive(new_master)
    assert [e for e in service.events[mark:] if e.get("event") == "upgrade.failed"] == []
    return new_master


async def test_sigusr2_under_load_hands_over_to_a_new_master_and_fails_no_request(start_service):
    service = start_service(API_WORKERS="2", JOB_WORKERS="1")
    await asyncio.to_thread(service.ready)
    load = Load(service.url)
    await load.more(300)
    new_master = await upgrade_and_check(service, load)
    # The new master upgrades in turn (it dropped its predecessor's variables).
    mark = service.mark()
    os.kill(new_master, signal.SIGUSR2)
    third = (await event(service, "upgrade.start", mark, old_pid=new_master))["pid"]
    await event(service, "upgrade.done", mark, pid=third, old_pid=new_master)
    await asyncio.to_thread(wait_until, lambda: not alive(new_master), 60, "the second master gone")
    assert (await event(service, "exit", mark))["code"] == 0
    await load.more(300)
    assert await load.stop() == []
    assert [e for e in service.events[mark:] if e.get("event") == "upgrade.failed"] == []
    await stop_new_master(service, third)


async def test_stopping_the_old_master_during_an_upgrade_stops_the_new_one_too(start_service, tmp_path,
                                                                              env_for):
    config = tmp_path / "config.toml"
    config.write_text(with_redis(env_for["REDIS_URL"]))
    service = start_service("--config", str(config), REDIS_URL="", START_TIMEOUT="5")
    await asyncio.to_thread(service.ready)
    config.write_text(with_redis(dead_redis()))  # the new master waits 5 s for it
    mark = service.mark()
    service.signal(signal.SIGUSR2)
    new_master = (await event(service, "upgrade.start", mark))["pid"]
    service.signal(signal.SIGTERM)
    await event(service, "upgrade.abandon", mark, pid=new_master)
    await event(service, "upgrade.abandoned", mark, pid=new_master)
    assert await asyncio.to_thread(service.wait_exit) == 0
    assert not alive(new_master)
    assert [e for e in service.events[mark:] if e.get("event") == "upgrade.failed"] == []


async def test_a_new_master_with_a_bad_config_leaves_the_old_one_serving(start_service, tmp_path):
    from shared.config import DEFAULT_CONFIG

    config = tmp_path / "config.toml"
    good = DEFAULT_CONFIG.read_text()
    config.write_text(good)
    service = start_service("--config", str(config))
    await asyncio.to_thread(service.ready)
    children = sorted(service.children())
    load = Load(service.url)
    await load.more(200)
    config.write_text("this is [not toml")
    mark = service.mark()
    service.signal(signal.SIGUSR2)
    started = await event(service, "upgrade.start", mark)
    failed = await event(service, "upgrade.failed", mark, pid=started["pid"])
    assert failed["code"] == 2 and "before it was ready" in failed["cause"]
    assert any("configuration error" in line for line in service.stderr)
    await load.more(300)
    assert service.proc.poll() is None and sorted(service.children()) == children
    assert spawned_since(service, mark) == []
    # Fixed on disk: the next SIGUSR2 goes through.
    config.write_text(good)
    new_master = await upgrade_and_check(service, load)
    assert await load.stop() == []
    await stop_new_master(service, new_master)


async def test_a_new_master_failing_its_start_checks_leaves_the_old_one_and_a_second_usr2_is_refused(
        start_service, tmp_path, env_for):
    config = tmp_path / "config.toml"
    config.write_text(with_redis(env_for["REDIS_URL"]))
    service = start_service("--config", str(config), REDIS_URL="", START_TIMEOUT="3")
    await asyncio.to_thread(service.ready)
    children = sorted(service.children())
    load = Load(service.url)
    await load.more(200)
    config.write_text(with_redis(dead_redis()))
    mark = service.mark()
    service.signal(signal.SIGUSR2)
    started = await event(service, "upgrade.start", mark)
    # The new master waits for Redis for 3 s meanwhile. To the whole group, as
    # `systemctl kill` does by default: the starting new master ignores it too.
    service.signal_group(signal.SIGUSR2)
    busy = await event(service, "upgrade.busy", mark)
    assert busy["pid"] == started["pid"]
    failed = await event(service, "upgrade.failed", mark, pid=started["pid"])
    assert failed["code"] == 3
    await load.more(300)
    assert await load.stop() == []
    assert service.proc.poll() is None and sorted(service.children()) == children
    assert [e["pid"] for e in service.named("upgrade.start")] == [started["pid"]]
    service.signal(signal.SIGTERM)
    assert await asyncio.to_thread(service.wait_exit) == 0


async def test_a_new_master_whose_children_crash_leaves_the_old_one_serving(start_service, tmp_path):
    from shared.config import DEFAULT_CONFIG

    def with_folder(folder: Path) -> str:
        text = DEFAULT_CONFIG.read_text()
        changed = re.sub(r'^folder_path = ".*?"', f'folder_path = "{folder}"', text, count=1, flags=re.M)
        assert changed != text
        return changed

    config = tmp_path / "config.toml"
    config.write_text(with_folder(tmp_path / "files"))
    service = start_service("--config", str(config), FOLDER_PATH="", CRASH_LIMIT="2")
    await asyncio.to_thread(service.ready)
    children = sorted(service.children())
    load = Load(service.url)
    await load.more(200)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    config.write_text(with_folder(blocker / "files"))  # every new child exits 1 at start
    mark = service.mark()
    service.signal(signal.SIGUSR2)
    started = await event(service, "upgrade.start", mark)
    failed = await event(service, "upgrade.failed", mark, pid=started["pid"])
    assert failed["code"] == 1
    assert any(e.get("event") == "master.crash_loop" for e in service.events[mark:])
    await load.more(300)
    assert await load.stop() == []
    assert service.proc.poll() is None and sorted(service.children()) == children
    assert not any(alive(pid) for pid in spawned_since(service, mark))
    service.signal(signal.SIGTERM)
    assert await asyncio.to_thread(service.wait_exit) == 0


class Systemd:
    """systemd's side of the notify protocol: every datagram, read as it comes
    (an unread queue would fill up and lose the master's messages)."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)  # the sender's pid, as systemd has it
        self.sock.settimeout(0.1)
        self.messages: list[list[str]] = []
        self.senders: list[int] = []
        self._cond = threading.Condition()
        self._done = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._done:
            try:
                data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(_UCRED.size))
            except TimeoutError:
                continue
            pid = next(_UCRED.unpack(payload[:_UCRED.size])[0] for level, kind, payload in ancillary
                       if (level, kind) == (socket.SOL_SOCKET, socket.SCM_CREDENTIALS))
            with self._cond:
                self.messages.append(data.decode().split("\n"))
                self.senders.append(pid)
                self._cond.notify_all()

    def wait_for(self, line: str, after: int = 0, timeout: float = 30.0, sender: int | None = None) -> int:
        """Index of the first message from `after` holding `line` (sent by `sender`)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, message in enumerate(self.messages[after:], after):
                    if line in message and sender in (None, self.senders[i]):
                        return i
                left = deadline - time.monotonic()
                assert left > 0, f"no {line!r} within {timeout}s: {self.messages[after:][-20:]}"
                self._cond.wait(left)

    def close(self) -> None:
        self._done = True
        self._thread.join(5)
        self.sock.close()


async def test_under_systemd_the_new_master_becomes_the_main_pid(sup_env, tmp_path):
    systemd = Systemd(str(tmp_path / "notify.sock"))
    env = {**sup_env, "NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "200000"}
    # WATCHDOG_PID names the master (systemd sets it): the new master needs its own
    service = Service(env, [], command=[sys.executable, str(AS_SYSTEMD), "--watchdog", "--"])
    old_master = service.proc.pid
    try:
        await asyncio.to_thread(service.ready)
        first_ready = await asyncio.to_thread(systemd.wait_for, "READY=1")
        await asyncio.to_thread(systemd.wait_for, "WATCHDOG=1", first_ready)
        load = Load(service.url, keepalive=2, fresh=2)
        new_master = await upgrade_and_check(service, load)
        assert await load.stop() == []
        handed = await asyncio.to_thread(systemd.wait_for, f"MAINPID={new_master}", first_ready,
                                         sender=new_master)
        assert "READY=1" in systemd.messages[handed]
        # systemd's watchdog follows the main pid: the new master pings it
        await asyncio.to_thread(systemd.wait_for, "WATCHDOG=1", handed, sender=new_master)
        # and the old master, once handed over, says nothing: a STOPPING=1 of
        # its would stop the whole service, its exit status would mislabel it
        from_old = [line for message, pid in zip(systemd.messages, systemd.senders, strict=True)
                    if pid == old_master for line in message]
        assert "READY=1" in from_old and "WATCHDOG=1" in from_old  # it did speak before
        assert not [line for line in from_old if line == "STOPPING=1" or "exited" in line]
        await stop_new_master(service, new_master)
        await asyncio.to_thread(systemd.wait_for, "STOPPING=1", handed, sender=new_master)
    finally:
        service.kill_everything()
        systemd.close()
