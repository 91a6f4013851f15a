"""Nodes of a cluster: `python supervisor.py` each, on a port of its own, all
with the same engines (tests/cluster/engines.py).

A node runs in a session (process group) of its own, as on a machine of its
own: `kill` SIGKILLs the whole group at once (a machine that died: no
graceful anything), `start` brings it back on the same port, `stop` is the
operator's SIGINT and must end in exit 0. Whatever happens, `close` leaves no
process of it behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

from tests.conftest import PROJECT, free_port

START_TIMEOUT = 60.0  # three nodes starting at once on a 2-core machine
STOP_TIMEOUT = 40.0  # above GRACEFUL_TIMEOUT's 30 s default


class NodeError(RuntimeError):
    """A node did not start or stop as it should; the message ends with its log."""


def node_env(engines: Mapping[str, str], port: int, folder: Path) -> dict[str, str]:
    """One node's settings: the shared engines, a port and a folder of its own
    (the content is in the engines: the folder holds nothing another node
    needs), one API worker and one job worker; argon2 cheap and jobs reclaimed
    from a dead node after a second, so the tests stay quick."""
    return {
        **engines,
        "FOLDER_PATH": str(folder / "files"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "API_WORKERS": "1",
        "JOB_WORKERS": "1",
        "TRUSTED_PROXIES": "127.0.0.1/32",  # nginx: X-Forwarded-For names the client
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "64",
        "WORKER_CLAIM_IDLE": "1",
        "LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
    }


def _group_alive(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group `pgid`."""
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(entry))
    return alive


def _reap(pids: list[int]) -> None:
    """Collect those of `pids` that were re-parented to this process (a
    subreaper) once dead; the others are someone else's to collect."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


class Node:
    def __init__(self, index: int, engines: Mapping[str, str], folder: Path) -> None:
        self.index = index
        self.port = free_port()
        self.env = node_env(engines, self.port, folder / f"node-{index}")
        self.log = folder / f"node-{index}.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        """As nginx names it in $upstream_addr."""
        return f"127.0.0.1:{self.port}"

    def spawn(self) -> None:
        """Start the supervisor (see `wait_ready`); its output is appended to
        the node's log, so a restarted node's log has both runs."""
        assert self.proc is None or self.proc.poll() is not None, f"node {self.index} is running"
        self.starts += 1
        with open(self.log, "ab") as out:
            out.write(f"--- start {self.starts} ---\n".encode())
            out.flush()
            self.proc = subprocess.Popen([sys.executable, str(PROJECT / "supervisor.py")], cwd=PROJECT,
                                         env={**os.environ, **self.env}, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Until the node answers /readyz 200 (every engine reachable)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise NodeError(f"node {self.index} did not start:\n{self.tail()}")
            time.sleep(0.05)

    def start(self) -> None:
        self.spawn()
        self.wait_ready()

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pids(self) -> list[int]:
        """The master and its children (the API and job workers), alive now."""
        return _group_alive(self.proc.pid) if self.running() and self.proc is not None else []

    def child_pid(self, title: str) -> int | None:
        """The pid of the child whose process title is `title` (e.g. "job worker 1")."""
        for pid in self.pids():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode() == f"files-manager: {title}":
                    return pid
        return None

    def kill(self) -> None:
        """SIGKILL the master and every child at once, as a machine that dies;
        returns once none of them is alive (the port is free again)."""
        assert self.proc is not None
        pgid = self.proc.pid
        members = _group_alive(pgid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        self.proc.wait(10)
        deadline = time.monotonic() + 10
        while _group_alive(pgid):
            if time.monotonic() > deadline:
                raise NodeError(f"node {self.index}: processes outlived SIGKILL: {_group_alive(pgid)}")
            time.sleep(0.01)
        _reap(members)

    def stop(self) -> int:
        """SIGINT, as an operator stops it; the exit code (0: clean)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.close()
            raise NodeError(f"node {self.index} did not stop on SIGINT:\n{self.tail()}") from None

    def close(self) -> None:
        """Nothing of the node left, whatever state it is in."""
        if self.proc is None:
            return
        members = _group_alive(self.proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        _reap(members)

    def tail(self, size: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-size:] if self.log.exists() else ""


@contextlib.contextmanager
def running_nodes(count: int, engines: Mapping[str, str], folder: Path) -> Iterator[list[Node]]:
    """`count` nodes started at once (they apply migrations together, as a
    fleet does), ready when yielded. At the end each running one is stopped
    with SIGINT and must exit 0; nothing of any is left either way."""
    folder.mkdir(parents=True, exist_ok=True)
    nodes = [Node(i, engines, folder) for i in range(count)]
    try:
        for node in nodes:
            node.spawn()
        for node in nodes:
            node.wait_ready()
        yield nodes
        codes = {node.index: node.stop() for node in nodes if node.running()}
        bad = {i: code for i, code in codes.items() if code != 0}
        if bad:
            raise NodeError("nodes did not exit 0 on SIGINT: " + ", ".join(
                f"node {i}: {code}\n{nodes[i].tail()}" for i, code in bad.items()))
    finally:
        for node in nodes:
            node.close()
