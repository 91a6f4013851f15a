"""Helpers the benchmarks share: a private redis-server, wrk runs, free ports,
and the guard that every process a benchmark starts ends with it."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

from shared.supervision.process import become_subreaper, descendants, reap_zombies

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@contextlib.contextmanager
def nothing_left_behind(settle: float = 10.0) -> Iterator[None]:
    """Run a benchmark's main: when it ends, by success, error or Ctrl-C, every
    process it started must be gone. It becomes a child subreaper (orphans, such
    as a supervisor whose parent died, are re-parented to it, not to init); at
    the end whatever is still below it after `settle` seconds is named on stderr
    and killed, and the exit status is 1."""
    become_subreaper()
    left: dict[int, str] = {}
    try:
        yield
    finally:
        deadline = time.monotonic() + settle
        while (left := descendants(os.getpid())) and time.monotonic() < deadline:
            reap_zombies()
            time.sleep(0.05)
        if left:
            print(f"\n!!! {len(left)} process(es) started by this benchmark outlived it (killed now):",
                  file=sys.stderr)
            for pid, cmd in sorted(left.items()):
                print(f"!!!   pid {pid}: {cmd}", file=sys.stderr)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
            reap_zombies()
    if left:
        raise SystemExit(1)


def stop(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout`."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def pinned(cpu: int | None) -> list[str]:
    """A command prefix pinning to one CPU (server on one, load generator and
    Redis on the other: run-to-run spread falls from ~20 % to a few %)."""
    if cpu is None or shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        return []
    return ["taskset", "-c", str(cpu)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_tool(binary: str, package: str) -> str:
    """The path of `binary`, installing Debian's `package` when it is missing."""
    found = shutil.which(binary)
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", package], check=False,
                   stdout=subprocess.DEVNULL)
    found = shutil.which(binary)
    if not found:
        subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True)
        subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", package], check=True,
                       stdout=subprocess.DEVNULL)
        found = shutil.which(binary)
    assert found, f"{binary} not available"
    return found


@contextlib.contextmanager
def redis_server(cpu: int | None = None, options: Sequence[str] = ()) -> Iterator[str]:
    """A private redis-server on a free port (pinned to `cpu` if given, with
    `options`, e.g. ("--replicaof", "127.0.0.1", "6379")); yields its URL."""
    folder = tempfile.mkdtemp(prefix="bench-redis-")
    port = free_port()
    proc = subprocess.Popen(
        [*pinned(cpu), "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", folder, *options],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(proc, 10)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def python_server(script: str, args: list[str], probe: str, *, env: dict[str, str] | None = None,
                  cpu: int | None = None) -> Iterator[tuple[str, list[int]]]:
    """Run `python bench/<script> <args...> <port>` until it answers `probe`;
    yields (base URL, [pid]) and stops it afterwards."""
    port = free_port()
    proc = subprocess.Popen([*pinned(cpu), PYTHON, str(ROOT / "bench" / script), *args, str(port)],
                            env=env, stdout=subprocess.DEVNULL, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + probe)
        yield base, [proc.pid]
    finally:
        stop(proc)


def wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * _UNITS[unit]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time consumed so far by these processes (Linux /proc)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


def wrk(url: str, *, seconds: int = 10, connections: int = 64, threads: int = 1,
        headers: dict[str, str] | None = None, server_pids: list[int] | None = None,
        cpu: int | None = None) -> dict[str, float]:
    """Run wrk; returns req/s, p50/p99 latency (ms), non-2xx/socket error counts
    and, given the server's pids, its CPU time per request in microseconds (a
    figure that other load on the machine disturbs far less than req/s)."""
    binary = ensure_tool("wrk", "wrk")
    cmd = [binary, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    for name, value in (headers or {}).items():
        cmd[1:1] = ["-H", f"{name}: {value}"]
    cmd[:0] = pinned(cpu)
    cpu_before = cpu_seconds(server_pids or [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(server_pids or []) - cpu_before
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    result = {
        "requests": requests,
        "cpu_us_per_req": cpu / requests * 1e6 if server_pids and requests else 0.0,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
        "p99_ms": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
        "non2xx": 0,
        "errors": 0,
    }
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        result["non2xx"] = int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        result["errors"] = sum(int(x) for x in m.groups())
    return result
