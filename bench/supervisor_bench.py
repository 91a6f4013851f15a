"""supervisor.py against gunicorn (aiohttp's GunicornUVLoopWebWorker), same app,
same worker count, same run:

- req/s, p99 and server CPU per request for GET /status and an authenticated GET /files/:id;
- time to answer again after the only worker was SIGKILLed (the master holds the
  socket, so a request sent right after the kill waits in the backlog until the
  replacement accepts it: the figure is the replacement time, measured from outside);
- requests failed during a SIGHUP reload and during a SIGTERM, both under load;
- a SIGUSR2 upgrade under load (bench/supervisor_upgrade.py);
- recycling under load: `MAX_REQUESTS` against gunicorn's `--max-requests`
  (bench/supervisor_recycle.py).
  "failed" is a request on an accepted connection that got no complete answer
  (for the reload, wrk's read/write/timeout errors and non-2xx; for the SIGTERM,
  our own keep-alive client, since wrk counts a refused connection as a write
  error: connections refused once nobody listens are counted apart, "refused").

    .venv/bin/python bench/supervisor_bench.py [--seconds 5] [--rounds 2] [--workers 2]
        [--max-requests 1000] [--max-requests-jitter 100] [--only recycle]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    PYTHON,
    ROOT,
    ensure_tool,
    free_port,
    nothing_left_behind,
    redis_server,
    wait_http,
    wrk,
)
from bench.supervisor_recycle import recycling
from bench.supervisor_recycle import report as report_recycling
from bench.supervisor_upgrade import report as report_upgrade
from bench.supervisor_upgrade import run_upgrade
from shared.supervision.policy import STABLE_AFTER

RESULTS = ROOT / "bench" / "results" / "supervisor_bench.json"


def children_of(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(x) for x in text)
    return found


class Server:
    """ours: python supervisor.py; gunicorn: the same app under aiohttp's uvloop worker."""

    def __init__(self, kind: str, env: dict[str, str], workers: int, args: list[str] | None = None) -> None:
        self.kind = kind
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**env, "PORT": str(self.port), "API_WORKERS": str(workers), "JOB_WORKERS": "0"}
        if kind == "ours":
            cmd = [PYTHON, "supervisor.py", "--host", "127.0.0.1"]
        else:
            cmd = [PYTHON, "-m", "gunicorn", "bench.supervisor_gunicorn_app:app",
                   "--worker-class", "aiohttp.GunicornUVLoopWebWorker",
                   "-w", str(workers), "-b", f"127.0.0.1:{self.port}",
                   "--graceful-timeout", env["GRACEFUL_TIMEOUT"], "--log-level", "warning"]
        cmd += args or []
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_http(f"{self.url}/status", 30)
            deadline = time.monotonic() + 30
            while len(self.workers()) < workers:  # every worker up, not only the first
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{kind}: workers did not start")
                time.sleep(0.05)
        except BaseException:
            self.close()
            raise
        time.sleep(0.5)  # the last worker's app start-up (a benchmark, not a test)

    def workers(self) -> list[int]:
        return children_of(self.proc.pid)

    def pids(self) -> list[int]:
        return [self.proc.pid, *self.workers()]

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(10)

    def close(self) -> None:
        """Whatever state it is in: stopped, and its whole process group with it
        (it runs in its own session, so a Ctrl-C to the benchmark never reached it)."""
        if self.proc.poll() is None:
            self.stop()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # workers that outlived their master
        except ProcessLookupError:
            pass


def account(url: str) -> tuple[str, str]:
    """A user, its token and one file of theirs: the authenticated GET /files/:id."""
    email = f"bench{time.monotonic_ns()}@example.com"

    def call(method: str, path: str, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{url}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    call("POST", "/users", {"email": email, "password": "pw"})
    basic = base64.b64encode(f"{email}:pw".encode()).decode()
    token = call("GET", "/connect", headers={"Authorization": f"Basic {basic}"})["token"]
    file = call("POST", "/files", {"name": "a.txt", "type": "file",
                                   "data": base64.b64encode(b"hello").decode()},
                {"X-Token": token})
    return token, file["id"]


def wrk_under_signal(server: Server, path: str, sig: int, seconds: float, at: float,
                     after_signal=None) -> dict:
    """wrk for `seconds`; `sig` to the master `at` seconds in. Error breakdown."""
    binary = ensure_tool("wrk", "wrk")
    cmd = [binary, "-t2", "-c64", f"-d{seconds}s", f"{server.url}{path}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(at)
        server.proc.send_signal(sig)
        if after_signal:
            after_signal()
        out = proc.communicate()[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    result = {"requests": int(re.search(r"(\d+) requests in", out).group(1)),
              "refused": 0, "failed": 0}
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        connect, read, write, timeout = (int(x) for x in m.groups())
        result["refused"] = connect
        result["failed"] = read + write + timeout
        result["breakdown"] = {"connect": connect, "read": read, "write": write, "timeout": timeout}
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        result["failed"] += int(m.group(1))
    return result


async def _client(port: int, stop_at: list[float], counts: dict) -> None:
    """Back-to-back keep-alive GET /status until the server refuses connections."""
    import asyncio

    request = b"GET /status HTTP/1.1\r\nHost: bench\r\n\r\n"
    loop = asyncio.get_running_loop()
    while loop.time() < stop_at[0]:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except ConnectionRefusedError:
            counts["refused"] += 1
            return  # nobody listens any more: the shutdown is complete
        answered = 0
        try:
            while loop.time() < stop_at[0]:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"Content-Length: (\d+)", head, re.I).group(1))
                await reader.readexactly(length)
                counts["ok" if head.startswith(b"HTTP/1.1 200") else "failed"] += 1
                answered += 1
                if b"connection: close" in head.lower():
                    break
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            # No full answer. On a connection that had answers already, the server
            # dropped it ("failed"); a reset before the first answer on a new
            # connection is the kernel dropping a handshake that raced the final
            # close of the listening socket ("reset_new"): the application never had it.
            counts["failed" if answered else "reset_new"] += 1
            kind = type(exc).__name__
            counts.setdefault("why", {})[kind] = counts.get("why", {}).get(kind, 0) + 1
        finally:
            writer.close()


def sigterm_under_load(server: Server, at: float, connections: int = 64) -> dict:
    """Own client (wrk cannot tell refused from reset): SIGTERM `at` s into the load."""
    import asyncio

    import uvloop

    counts = {"ok": 0, "failed": 0, "reset_new": 0, "refused": 0}

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stop_at = [loop.time() + 30]
        tasks = [asyncio.create_task(_client(server.port, stop_at, counts))
                 for _ in range(connections)]
        await asyncio.sleep(at)
        server.proc.send_signal(signal.SIGTERM)
        await asyncio.gather(*tasks)

    uvloop.run(run())
    counts["exit_code"] = server.proc.wait(30)
    counts["requests"] = counts["ok"] + counts["failed"] + counts["reset_new"]
    return counts


def replace_time(server: Server, rounds: int) -> float:
    """Median seconds from SIGKILL of the only worker to an answer on a new connection.

    Between kills the replacement gets to run STABLE_AFTER seconds: a worker
    killed sooner counts as a crash loop in the making and is restarted after a
    backoff (0.1 s, doubling), which is what a quick series of kills would measure."""
    times = []
    for _ in range(rounds):
        [victim] = server.workers()
        began = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        with urllib.request.urlopen(f"{server.url}/status", timeout=30) as resp:
            assert resp.status == 200
        times.append(time.monotonic() - began)
        deadline = time.monotonic() + 10
        while victim in server.workers() or len(server.workers()) != 1:
            if time.monotonic() > deadline:
                raise RuntimeError("worker count did not settle")
            time.sleep(0.02)
        time.sleep(STABLE_AFTER + 0.5)  # same wait for both servers
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-requests", type=int, default=1000, help="recycling scenario")
    parser.add_argument("--max-requests-jitter", type=int, default=100, help="recycling scenario")
    parser.add_argument("--only", choices=("all", "recycle"), default="all")
    args = parser.parse_args()
    try:
        import gunicorn  # noqa: F401 - the peer: fail before starting anything
    except ImportError:
        raise SystemExit("gunicorn is not installed: .venv/bin/pip install -c constraints.txt '.[bench]'") from None
    kinds = ("ours", "gunicorn")
    results: dict = {k: {} for k in kinds}
    with (redis_server() as redis_url, tempfile.TemporaryDirectory() as tmp,
          contextlib.ExitStack() as running):
        env = {**os.environ, "REDIS_URL": redis_url, "DB_URL": f"sqlite:///{tmp}/db.sqlite3",
               "FOLDER_PATH": f"{tmp}/files", "LOG_FORMAT": "json", "GRACEFUL_TIMEOUT": "10",
               "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "64", "PYTHONPATH": str(ROOT)}

        def start(kind: str, workers: int, extra_env: dict[str, str] | None = None,
                  server_args: list[str] | None = None) -> Server:
            server = Server(kind, {**env, **(extra_env or {})}, workers, server_args)
            running.callback(server.close)  # stopped at the end whatever happens
            return server

        recycle_options = {"workers": args.workers, "seconds": args.seconds, "max_requests": args.max_requests,
                           "jitter": args.max_requests_jitter}
        results["recycle"] = recycling(start, rounds=args.rounds, **recycle_options)
        if args.only == "recycle":
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.with_name("supervisor_recycle.json").write_text(json.dumps(results["recycle"], indent=2))
            report_recycling(results["recycle"], **recycle_options)
            return
        # Throughput: both servers up, runs alternating.
        servers = {k: start(k, args.workers) for k in kinds}
        token, file_id = account(servers["ours"].url)
        cases = {"status": ("/status", {}), "file": (f"/files/{file_id}", {"X-Token": token})}
        runs: dict = {k: {c: [] for c in cases} for k in kinds}
        for _ in range(args.rounds):
            for case, (path, headers) in cases.items():
                for kind in kinds:
                    server = servers[kind]
                    runs[kind][case].append(wrk(f"{server.url}{path}", seconds=args.seconds,
                                                connections=64, threads=2, headers=headers,
                                                server_pids=server.pids()))
        for kind in kinds:
            for case in cases:
                rs = runs[kind][case]
                results[kind][case] = {
                    "rps": statistics.median(r["rps"] for r in rs),
                    "p99_ms": statistics.median(r["p99_ms"] for r in rs),
                    "cpu_us_per_req": statistics.median(r["cpu_us_per_req"] for r in rs),
                    "errors": sum(r["errors"] + r["non2xx"] for r in rs),
                }
        # SIGHUP under load.
        for kind in kinds:
            results[kind]["reload"] = wrk_under_signal(servers[kind], "/status", signal.SIGHUP,
                                                       args.seconds + 2, 2)
        # SIGTERM under load.
        for kind in kinds:
            server = servers[kind]
            results[kind]["sigterm"] = sigterm_under_load(server, 2)
        # SIGUSR2 upgrade under load: servers of its own (their old master exits).
        for kind, figures in run_upgrade(env, args.workers).items():
            results[kind]["upgrade"] = figures
        # Replacement time, one worker each.
        for kind in kinds:
            server = start(kind, 1)
            results[kind]["replace_s"] = replace_time(server, 3)
            server.stop()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    report(results, args)
    report_recycling(results["recycle"], workers=args.workers, seconds=args.seconds,
                     max_requests=args.max_requests, jitter=args.max_requests_jitter)


def report(results: dict, args) -> None:
    ours, gun = results["ours"], results["gunicorn"]
    print(f"\nsupervisor.py vs gunicorn (GunicornUVLoopWebWorker), {args.workers} workers, "
          f"wrk -t2 -c64 -d{args.seconds}s, median of {args.rounds}\n")
    print("| case | ours | gunicorn | ratio |")
    print("|---|---:|---:|---:|")
    for case, label in (("status", "GET /status"), ("file", "GET /files/:id (auth)")):
        o, g = ours[case], gun[case]
        print(f"| {label} req/s | {o['rps']:.0f} | {g['rps']:.0f} | {o['rps'] / g['rps']:.2f}x |")
        print(f"| {label} p99 ms | {o['p99_ms']:.2f} | {g['p99_ms']:.2f} | "
              f"{g['p99_ms'] / o['p99_ms']:.2f}x |")
        print(f"| {label} CPU µs/req | {o['cpu_us_per_req']:.0f} | {g['cpu_us_per_req']:.0f} | "
              f"{g['cpu_us_per_req'] / o['cpu_us_per_req']:.2f}x |")
    print(f"| SIGKILLed worker answering again, s | {ours['replace_s']:.3f} | "
          f"{gun['replace_s']:.3f} | {gun['replace_s'] / ours['replace_s']:.1f}x |")
    o, g = ours["reload"], gun["reload"]
    print(f"| SIGHUP under load (wrk): failed / total | {o['failed']} / {o['requests']} | "
          f"{g['failed']} / {g['requests']} | |")
    o, g = ours["sigterm"], gun["sigterm"]
    print(f"| SIGTERM under load: failed / reset new / refused / total | {o['failed']} / "
          f"{o['reset_new']} / {o['refused']} / {o['requests']} | {g['failed']} / "
          f"{g['reset_new']} / {g['refused']} / {g['requests']} | |")
    print(f"| exit code after SIGTERM | {ours['sigterm']['exit_code']} | "
          f"{gun['sigterm']['exit_code']} | |")
    print("\n(ratios: above 1 means ours is better)")
    report_upgrade({"ours": ours["upgrade"], "gunicorn": gun["upgrade"]})


if __name__ == "__main__":
    with nothing_left_behind():
        main()
