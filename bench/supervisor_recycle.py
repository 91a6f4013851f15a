"""Recycling under load, for bench/supervisor_bench.py: ours (`MAX_REQUESTS`,
`MAX_REQUESTS_JITTER`) against gunicorn (`--max-requests`,
`--max-requests-jitter`), the same app, workers and wrk run, in the same run:

- wrk -t2 -c64 on GET /status for `seconds`: req/s, p99 and max latency,
  failed requests (wrk's read/write/timeout errors and non-2xx; refused
  connections apart, as "refused");
- the workers replaced meanwhile, counted from outside: every child pid seen
  under the master (sampled every 20 ms), less the initial workers;
- the same run without recycling, so each server's cost of recycling is a
  ratio of its own;
- ours with a `MAX_REQUESTS` it never reaches against none: what counting
  costs a request (server CPU per request; aiohttp counts anyway, we look
  every 0.1 s)."""

from __future__ import annotations

import re
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import ensure_tool, wrk

NEVER = 10**12  # a MAX_REQUESTS no run reaches


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found.update(int(x) for x in (task / "children").read_text().split())
        except OSError:
            pass
    return found


def wrk_counting_workers(server: Any, seconds: int) -> dict:
    """wrk on GET /status while the server's workers are sampled."""
    binary = ensure_tool("wrk", "wrk")
    first = _children(server.proc.pid)
    seen = set(first)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            seen.update(_children(server.proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out = subprocess.run([binary, "-t2", "-c64", f"-d{seconds}s", "--latency", f"{server.url}/status"],
                             capture_output=True, text=True, check=True).stdout
    finally:
        stop.set()
        sampler.join()
    result = {
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p99_ms": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
        "max_ms": _ms(re.search(r"Latency\s+\S+\s+\S+\s+([\d.]+\w+)", out).group(1)),
        "failed": 0,
        "refused": 0,
        "recycled": len(seen - first),
    }
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        connect, read, write, timeout = (int(x) for x in m.groups())
        result["refused"] = connect
        result["failed"] = read + write + timeout
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        result["failed"] += int(m.group(1))
    return result


def recycling(start: Callable[..., Any], *, workers: int, seconds: int, rounds: int,
              max_requests: int, jitter: int) -> dict:
    """`start(kind, workers, extra_env=..., server_args=...)` gives a running server (stopped by the caller's
    exit stack as well); each configuration is started afresh, the two servers alternating."""
    configs = {
        "ours": {"off": ({"MAX_REQUESTS": "0"}, []),
                 "on": ({"MAX_REQUESTS": str(max_requests), "MAX_REQUESTS_JITTER": str(jitter)}, [])},
        "gunicorn": {"off": ({}, []),
                     "on": ({}, ["--max-requests", str(max_requests), "--max-requests-jitter", str(jitter)])},
    }
    runs: dict = {kind: {"off": [], "on": []} for kind in configs}
    for _ in range(rounds):
        for mode in ("off", "on"):
            for kind, modes in configs.items():
                env, args = modes[mode]
                server = start(kind, workers, extra_env=env, server_args=args)
                runs[kind][mode].append(wrk_counting_workers(server, seconds))
                server.stop()
    results: dict = {}
    for kind, modes in runs.items():
        results[kind] = {}
        for mode, rs in modes.items():
            results[kind][mode] = {key: statistics.median(r[key] for r in rs)
                                   for key in ("rps", "p99_ms", "max_ms", "recycled")}
            results[kind][mode]["failed"] = sum(r["failed"] for r in rs)
            results[kind][mode]["refused"] = sum(r["refused"] for r in rs)
            results[kind][mode]["requests"] = sum(r["requests"] for r in rs)
    # What counting costs: a limit never reached against none, server CPU per request.
    cost = {}
    for label, limit in (("none", "0"), ("never reached", str(NEVER))):
        server = start("ours", workers, extra_env={"MAX_REQUESTS": limit})
        cost[label] = statistics.median(
            wrk(f"{server.url}/status", seconds=seconds, connections=64, threads=2,
                server_pids=server.pids())["cpu_us_per_req"] for _ in range(rounds))
        server.stop()
    results["count_cost_cpu_us_per_req"] = cost
    return results


def report(results: dict, *, workers: int, seconds: int, max_requests: int, jitter: int) -> None:
    ours, gun = results["ours"], results["gunicorn"]
    print(f"\nrecycling: max_requests {max_requests} + jitter {jitter}, {workers} workers, "
          f"wrk -t2 -c64 -d{seconds}s GET /status\n")
    print("| case | ours | gunicorn | ratio |")
    print("|---|---:|---:|---:|")
    o, g = ours["on"], gun["on"]
    print(f"| failed / requests | {o['failed']} / {o['requests']} | {g['failed']} / {g['requests']} | |")
    print(f"| workers recycled (median) | {o['recycled']:.0f} | {g['recycled']:.0f} | |")
    print(f"| req/s | {o['rps']:.0f} | {g['rps']:.0f} | {o['rps'] / g['rps']:.2f}x |")
    print(f"| p99 ms | {o['p99_ms']:.1f} | {g['p99_ms']:.1f} | {g['p99_ms'] / o['p99_ms']:.2f}x |")
    print(f"| max ms | {o['max_ms']:.1f} | {g['max_ms']:.1f} | {g['max_ms'] / o['max_ms']:.2f}x |")
    o, g = ours["off"], gun["off"]
    print(f"| not recycling: req/s | {o['rps']:.0f} | {g['rps']:.0f} | {o['rps'] / g['rps']:.2f}x |")
    print(f"| not recycling: p99 / max ms | {o['p99_ms']:.1f} / {o['max_ms']:.1f} | "
          f"{g['p99_ms']:.1f} / {g['max_ms']:.1f} | {g['p99_ms'] / o['p99_ms']:.2f}x / "
          f"{g['max_ms'] / o['max_ms']:.2f}x |")
    print(f"| not recycling: failed / requests | {o['failed']} / {o['requests']} | "
          f"{g['failed']} / {g['requests']} | |")
    for kind, rows in (("ours", ours), ("gunicorn", gun)):
        print(f"| {kind}: req/s recycling / not | {rows['on']['rps']:.0f} / {rows['off']['rps']:.0f} | | "
              f"{rows['on']['rps'] / rows['off']['rps']:.2f}x |")
    cost = results["count_cost_cpu_us_per_req"]
    print(f"| ours: CPU µs/req, max_requests never reached / 0 | {cost['never reached']:.0f} / "
          f"{cost['none']:.0f} | | {cost['none'] / cost['never reached']:.2f}x |")
    print("\n(ratios: above 1 means ours is better; the last rows: the same server against itself)")
