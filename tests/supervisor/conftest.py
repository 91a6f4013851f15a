"""Running the real `python supervisor.py` in a test: a subprocess in its own
process group on a free port, with the private Redis and temp folders; its JSON
log lines are collected so a test can wait for an event (never a fixed sleep)."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


class Service:
    """One supervisor.py process and what it logged."""

    def __init__(self, env: dict[str, str], args: list[str],
                 command: list[str] | None = None, pass_fds: tuple[int, ...] = ()) -> None:
        self.port = int(env["PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.events: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            [*(command or [sys.executable, str(ROOT / "supervisor.py")]), *args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=pass_fds,
            start_new_session=True,  # its own group: killpg() plays a terminal's Ctrl-C
        )
        self.pgid = self.proc.pid
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                event = json.loads(raw)
            except ValueError:
                event = {"event": "<text>", "text": raw.decode(errors="replace")}
            with self._cond:
                self.events.append(event)
                self._cond.notify_all()
        with self._cond:
            self.events.append({"event": "<eof>"})
            self._cond.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            with self._cond:
                self.stderr.append(raw.decode(errors="replace"))
                self._cond.notify_all()

    # --- waiting ------------------------------------------------------------
    def wait_for(self, name: str, timeout: float = 20.0, after: int = 0,
                 where: Callable[[dict], bool] = lambda e: True) -> dict[str, Any]:
        """The first event called `name` (from index `after`) matching `where`."""
        deadline = time.monotonic() + timeout
        seen = after  # scan each event once: request logs can be thousands a second
        with self._cond:
            while True:
                for event in self.events[seen:]:
                    if event.get("event") == name and where(event):
                        return event
                seen = len(self.events)
                left = deadline - time.monotonic()
                if left <= 0:
                    names = [e.get("event") for e in self.events[-40:]]
                    raise AssertionError(f"no {name} within {timeout}s; last events: {names}; "
                                         f"stderr: {''.join(self.stderr)[-2000:]}")
                self._cond.wait(left)

    def mark(self) -> int:
        with self._cond:
            return len(self.events)

    def named(self, name: str) -> list[dict[str, Any]]:
        with self._cond:
            return [e for e in self.events if e.get("event") == name]

    def ready(self, timeout: float = 30.0) -> Service:
        self.wait_for("master.ready", timeout)
        return self

    def children(self, kind: str | None = None) -> list[int]:
        """Pids of children spawned and not yet reported exited."""
        exited = {e["pid"] for e in self.named("child.exit")}
        return [e["pid"] for e in self.named("child.spawn")
                if e["pid"] not in exited and (kind is None or e["kind"] == kind)]

    def all_child_pids(self) -> list[int]:
        return [e["pid"] for e in self.named("child.spawn")]

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def signal_group(self, sig: int) -> None:
        os.killpg(self.pgid, sig)

    def wait_exit(self, timeout: float = 30.0) -> int:
        code = self.proc.wait(timeout)
        for thread in self._threads:
            thread.join(5)
        return code

    def kill_everything(self) -> None:
        """Clean-up after a test, whatever happened: no process of ours survives.
        Its whole process group (children not logged yet included), then any
        child that left it."""
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in [self.proc.pid, *self.all_child_pids()]:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.proc.wait(10)


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def sup_env(env_for: dict[str, str]) -> dict[str, str]:
    """The environment of a supervisor under test: small timeouts, two API workers, no job workers."""
    env = dict(env_for)
    env.update({
        "API_WORKERS": "2",
        "JOB_WORKERS": "0",
        "GRACEFUL_TIMEOUT": "10",
        "HEARTBEAT_TIMEOUT": "5",
        "START_TIMEOUT": "5",
        "SHUTDOWN_TIMEOUT": "8",
    })
    env.pop("NOTIFY_SOCKET", None)
    env.pop("WATCHDOG_USEC", None)
    return env


@pytest.fixture
def start_service(sup_env: dict[str, str]) -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def start(*args: str, **env: str) -> Service:
        service = Service({**sup_env, **env}, list(args))
        started.append(service)
        return service

    yield start
    for service in started:
        service.kill_everything()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def public_file(session, url: str, data: bytes, name: str = "big.bin") -> str:
    """Sign up, log in, upload `data` as a public file; its id."""
    email = f"user{time.monotonic_ns()}@example.com"
    async with session.post(f"{url}/users", json={"email": email, "password": "pw"}) as resp:
        assert resp.status == 201, await resp.text()
    auth = "Basic " + b64(f"{email}:pw".encode())
    async with session.get(f"{url}/connect", headers={"Authorization": auth}) as resp:
        assert resp.status == 200
        token = (await resp.json())["token"]
    body = {"name": name, "type": "file", "isPublic": True, "data": b64(data)}
    async with session.post(f"{url}/files", json=body, headers={"X-Token": token}) as resp:
        assert resp.status == 201, await resp.text()
        return (await resp.json())["id"]
