"""Zero-downtime upgrade under load, ours against gunicorn, same app, same run.

- ours: SIGUSR2 to the master; the new master takes the socket over and, once
  its children are ready, the old one drains and exits by itself;
- gunicorn: SIGUSR2 to the master (its reexec: a new master inherits the
  socket), then, once every new worker has booted, SIGTERM to the old master
  (graceful stop of its workers). gunicorn's docs put a SIGWINCH first, but the
  arbiter ignores it unless daemonized, so TERM is what stops the old workers.

A load of keep-alive clients and clients opening a fresh connection per request
runs throughout. Reported: failed requests (no complete answer, or not a 200),
the longest request started during the upgrade, the time from the signal to
every new worker serving (ours: the new master's `master.ready`; gunicorn: the
last new worker's first heartbeat, which aiohttp's worker sends right after its
sites started, caught by a `post_worker_init` hook) and to the old master's exit.

Run by bench/supervisor_bench.py; alone:
    .venv/bin/python bench/supervisor_upgrade.py [--workers 2]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PYTHON, ROOT, free_port, nothing_left_behind, redis_server, wait_http

GUNICORN_HOOKS = '''
import os, time

def post_worker_init(worker):
    # aiohttp's worker calls notify() first right after its sites started:
    # the moment it serves, as our child.ready.
    notify = worker.notify

    def first_notify():
        worker.notify = notify
        with open(os.environ["BENCH_READY_LOG"], "a") as fh:
            fh.write(f"{time.time()} {os.getpid()} {os.getppid()}\\n")
        notify()

    worker.notify = first_notify
'''
_REQUEST = b"GET /status HTTP/1.1\r\nHost: bench\r\n\r\n"


class Load:
    """Keep-alive and fresh-connection clients in a thread of their own."""

    def __init__(self, port: int, keepalive: int = 16, fresh: int = 8) -> None:
        self.port = port
        self.samples: list[tuple[float, float, bool]] = []  # (started, seconds, ok)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(keepalive, fresh), daemon=True)
        self._thread.start()

    def _run(self, keepalive: int, fresh: int) -> None:
        import uvloop

        async def main() -> None:
            await asyncio.gather(*[self._client(True) for _ in range(keepalive)],
                                 *[self._client(False) for _ in range(fresh)])

        uvloop.run(main())

    async def _client(self, keep: bool) -> None:
        while not self._stop.is_set():
            began = time.time()
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                self.samples.append((began, time.time() - began, False))
                await asyncio.sleep(0.01)
                continue
            try:
                while not self._stop.is_set():
                    writer.write(_REQUEST)
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = int(re.search(rb"Content-Length: (\d+)", head, re.I).group(1))
                    await reader.readexactly(length)
                    self.samples.append((began, time.time() - began, head.startswith(b"HTTP/1.1 200")))
                    if not keep or b"connection: close" in head.lower():
                        break
                    began = time.time()
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                self.samples.append((began, time.time() - began, False))
            finally:
                writer.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(FileNotFoundError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            found.extend(int(x) for x in (task / "children").read_text().split())
    return found


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.01)
    return found


def _stop_pid(pid: int) -> None:
    """SIGTERM the new master (the benchmark, a subreaper, adopted it) and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def upgrade_ours(env: dict[str, str], workers: int, tmp: str) -> dict:
    port = free_port()
    env = {**env, "PORT": str(port), "API_WORKERS": str(workers), "JOB_WORKERS": "0"}
    proc = subprocess.Popen([PYTHON, "supervisor.py", "--host", "127.0.0.1"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    events: list[tuple[float, dict]] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            # Only the lines this needs: parsing every request line would take
            # the GIL from the load's thread, a handicap gunicorn would not have.
            if b'"upgrade.' in line or b'"master.ready"' in line:
                with contextlib.suppress(ValueError):
                    events.append((time.time(), json.loads(line)))

    threading.Thread(target=read, daemon=True).start()

    def first(name: str, **fields):
        return next((at for at, e in list(events) if e.get("event") == name
                     and all(e.get(k) == v for k, v in fields.items())), None)

    new_master = None
    try:
        _wait(lambda: first("master.ready"), 60, "ours ready")
        load = Load(port)
        time.sleep(2)
        signalled = time.time()
        proc.send_signal(signal.SIGUSR2)
        start = _wait(lambda: next((e for _, e in list(events) if e.get("event") == "upgrade.start"), None),
                      60, "upgrade.start")
        new_master = start["pid"]
        ready = _wait(lambda: first("master.ready", pid=new_master), 120, "the new master ready")
        return _after_hand_over(proc, load, signalled, ready)
    finally:
        _stop_both(proc, new_master)


def upgrade_gunicorn(env: dict[str, str], workers: int, tmp: str) -> dict:
    port = free_port()
    hooks = Path(tmp) / "gunicorn_hooks.py"
    hooks.write_text(GUNICORN_HOOKS)
    ready_log = Path(tmp) / "gunicorn_ready.log"
    ready_log.write_text("")
    env = {**env, "PORT": str(port), "BENCH_READY_LOG": str(ready_log)}
    # The console script, not `python -m gunicorn`: gunicorn's reexec runs
    # sys.argv[0] again, and gunicorn/__main__.py run as a script shadows `http`.
    gunicorn = str(Path(PYTHON).parent / "gunicorn")
    proc = subprocess.Popen(
        [gunicorn, "bench.supervisor_gunicorn_app:app", "--worker-class", "aiohttp.GunicornUVLoopWebWorker",
         "-w", str(workers), "-b", f"127.0.0.1:{port}", "-c", str(hooks),
         "--graceful-timeout", env["GRACEFUL_TIMEOUT"], "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def ready_under(master: int) -> list[float]:
        lines = [line.split() for line in ready_log.read_text().splitlines()]
        return [float(at) for at, _pid, parent in lines if int(parent) == master]

    new_master = None
    try:
        wait_http(f"http://127.0.0.1:{port}/status", 60)
        _wait(lambda: len(ready_under(proc.pid)) >= workers, 60, "gunicorn workers")
        old_workers = set(_children(proc.pid))
        load = Load(port)
        time.sleep(2)
        signalled = time.time()
        proc.send_signal(signal.SIGUSR2)
        new_master = _wait(lambda: next(iter(set(_children(proc.pid)) - old_workers), None),
                           60, "gunicorn's new master")
        ready = max(_wait(lambda: (r := ready_under(new_master)) and len(r) >= workers and r,
                          120, "gunicorn's new workers"))
        proc.send_signal(signal.SIGTERM)  # the operator's part: the old master goes, gracefully
        return _after_hand_over(proc, load, signalled, ready)
    finally:
        _stop_both(proc, new_master)


def _after_hand_over(proc: subprocess.Popen, load: Load, signalled: float, ready: float) -> dict:
    """The old master's exit, two more seconds of load, the figures."""
    code = proc.wait(120)
    old_gone = time.time()
    time.sleep(2)
    load.stop()
    return _figures(load, signalled, ready, old_gone, code)


def _stop_both(proc: subprocess.Popen, new_master: int | None) -> None:
    if new_master is not None:
        _stop_pid(new_master)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(40)


def _figures(load: Load, signalled: float, ready: float, old_gone: float, code: int) -> dict:
    samples = list(load.samples)
    during = [seconds for began, seconds, _ in samples if signalled <= began <= old_gone]
    return {
        "requests": len(samples),
        "failed": sum(1 for _, _, ok in samples if not ok),
        "max_ms_during": round(max(during, default=0.0) * 1000, 1),
        "requests_during": len(during),
        "signal_to_new_serving_s": round(ready - signalled, 2),
        "signal_to_old_exit_s": round(old_gone - signalled, 2),
        "old_master_exit_code": code,
    }


def run_upgrade(env: dict[str, str], workers: int) -> dict:
    """Both servers, one after the other, in the same run (called by supervisor_bench)."""
    with tempfile.TemporaryDirectory() as tmp:
        return {"ours": upgrade_ours(env, workers, tmp), "gunicorn": upgrade_gunicorn(env, workers, tmp)}


def report(results: dict) -> None:
    ours, gun = results["ours"], results["gunicorn"]
    print("\nSIGUSR2 upgrade under load (16 keep-alive + 8 fresh-connection clients)\n")
    print("| case | ours | gunicorn |")
    print("|---|---:|---:|")
    print(f"| failed / requests | {ours['failed']} / {ours['requests']} | "
          f"{gun['failed']} / {gun['requests']} |")
    print(f"| longest request during the upgrade, ms | {ours['max_ms_during']} | {gun['max_ms_during']} |")
    print(f"| signal to every new worker serving, s | {ours['signal_to_new_serving_s']} | "
          f"{gun['signal_to_new_serving_s']} |")
    print(f"| signal to the old master's exit, s | {ours['signal_to_old_exit_s']} | "
          f"{gun['signal_to_old_exit_s']} |")
    print(f"| old master's exit code | {ours['old_master_exit_code']} | {gun['old_master_exit_code']} |")


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with redis_server() as redis_url, tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "REDIS_URL": redis_url, "DB_URL": f"sqlite:///{tmp}/db.sqlite3",
               "FOLDER_PATH": f"{tmp}/files", "LOG_FORMAT": "json", "GRACEFUL_TIMEOUT": "10",
               "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "64", "PYTHONPATH": str(ROOT)}
        results = run_upgrade(env, args.workers)
    print(json.dumps(results, indent=2))
    report(results)


if __name__ == "__main__":
    with nothing_left_behind():
        main()
