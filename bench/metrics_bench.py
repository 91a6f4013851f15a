"""What /metrics costs: the same service with and without metrics, same run.

- Requests: an authenticated GET /files/:id under wrk against two
  `python supervisor.py` (2 API workers, a job worker, the same database and
  Redis), one with METRICS_TOKEN set (every request counted), one without.
  Rounds alternate which goes first, so a change in the machine's speed hits
  both alike; the figure is the median of the per-round ratios (req/s, and
  server CPU per request, the steadier one on a shared machine).
  Target: metrics cost < 5 %.
- Scrapes: after the load (every route's series exist), GET /metrics one after
  another, through an API worker (token) and through the master's metrics.port.
  Target: < 20 ms.

    .venv/bin/python bench/metrics_bench.py [--seconds 5] [--rounds 6] [--scrapes 200]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PYTHON, ROOT, free_port, nothing_left_behind, redis_server, stop, wait_http, wrk
from bench.supervisor_bench import account, children_of

RESULTS = ROOT / "bench" / "results" / "metrics_bench.json"
TOKEN = "bench-metrics-token"


class Service:
    """python supervisor.py with 2 API workers and a job worker; `metered`: METRICS_TOKEN and METRICS_PORT set."""

    def __init__(self, env: dict[str, str], metered: bool) -> None:
        self.port = free_port()
        self.metrics_port = free_port() if metered else 0
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**env, "PORT": str(self.port), "API_WORKERS": "2", "JOB_WORKERS": "1"}
        if metered:
            env.update(METRICS_TOKEN=TOKEN, METRICS_PORT=str(self.metrics_port))
        self.proc = subprocess.Popen([PYTHON, "supervisor.py", "--host", "127.0.0.1"], cwd=ROOT, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_http(f"{self.url}/status", 30)
        deadline = time.monotonic() + 30
        while len(children_of(self.proc.pid)) < 3:
            if time.monotonic() > deadline:
                raise RuntimeError("the children did not start")
            time.sleep(0.05)
        time.sleep(0.5)  # the last child's start-up (a benchmark, not a test)

    def pids(self) -> list[int]:
        return [self.proc.pid, *children_of(self.proc.pid)]

    def close(self) -> None:
        stop(self.proc, 30)


def scrape_times(url: str, headers: dict[str, str], count: int) -> dict[str, float]:
    """Milliseconds per GET /metrics, one after another, each on a new connection (as Prometheus, mostly)."""
    times = []
    size = 0
    for _ in range(count):
        started = time.perf_counter()
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as resp:
            size = len(resp.read())
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"median_ms": statistics.median(times), "p95_ms": times[int(len(times) * 0.95) - 1],
            "max_ms": times[-1], "bytes": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--scrapes", type=int, default=200)
    args = parser.parse_args()
    with (redis_server() as redis_url, tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as running):
        env = {**os.environ, "REDIS_URL": redis_url, "DB_URL": f"sqlite:///{tmp}/db.sqlite3",
               "FOLDER_PATH": f"{tmp}/files", "LOG_FORMAT": "json", "ARGON2_TIME_COST": "1",
               "ARGON2_MEMORY_KIB": "64", "PYTHONPATH": str(ROOT)}
        for name in ("METRICS_TOKEN", "METRICS_PORT"):
            env.pop(name, None)
        services = {}
        for kind, metered in (("without", False), ("with", True)):
            services[kind] = Service(env, metered)
            running.callback(services[kind].close)
        token, file_id = account(services["without"].url)  # one database: the token serves both
        runs: dict[str, list[dict]] = {"without": [], "with": []}
        for round_ in range(args.rounds):
            order = ("without", "with") if round_ % 2 == 0 else ("with", "without")
            for kind in order:
                service = services[kind]
                runs[kind].append(wrk(f"{service.url}/files/{file_id}", seconds=args.seconds, connections=64,
                                      threads=1, headers={"X-Token": token}, server_pids=service.pids()))
        rps_ratios = [w["rps"] / o["rps"] for w, o in zip(runs["with"], runs["without"], strict=True)]
        cpu_ratios = [w["cpu_us_per_req"] / o["cpu_us_per_req"]
                      for w, o in zip(runs["with"], runs["without"], strict=True)]
        metered = services["with"]
        scrapes = {
            "main port (token)": scrape_times(f"{metered.url}/metrics", {"Authorization": f"Bearer {TOKEN}"},
                                              args.scrapes),
            "metrics.port (master)": scrape_times(f"http://127.0.0.1:{metered.metrics_port}/metrics", {},
                                                  args.scrapes),
        }

    results = {
        "requests": {kind: {"rps": statistics.median(r["rps"] for r in rs),
                            "cpu_us_per_req": statistics.median(r["cpu_us_per_req"] for r in rs),
                            "errors": sum(r["errors"] + r["non2xx"] for r in rs)} for kind, rs in runs.items()},
        "rps_ratio_per_round": rps_ratios, "cpu_ratio_per_round": cpu_ratios,
        "rps_ratio": statistics.median(rps_ratios), "cpu_ratio": statistics.median(cpu_ratios),
        "scrapes": scrapes,
    }
    print("GET /files/:id, 2 API workers + a job worker, wrk -t1 -c64:")
    for kind, row in results["requests"].items():
        print(f"  {kind + ' metrics':<16} {row['rps']:>9,.0f} req/s  {row['cpu_us_per_req']:7.1f} us CPU/req  "
              f"errors {row['errors']}")
    print(f"  with/without, req/s per round: {', '.join(f'{r:.3f}' for r in rps_ratios)}  "
          f"median {results['rps_ratio']:.3f} (cost {1 - results['rps_ratio']:+.1%})")
    print(f"  with/without, CPU/req per round: {', '.join(f'{r:.3f}' for r in cpu_ratios)}  "
          f"median {results['cpu_ratio']:.3f} (cost {results['cpu_ratio'] - 1:+.1%})")
    print(f"GET /metrics ({args.scrapes} one after another):")
    for where, row in scrapes.items():
        print(f"  {where:<22} median {row['median_ms']:.2f} ms  p95 {row['p95_ms']:.2f} ms  "
              f"max {row['max_ms']:.2f} ms  ({row['bytes']:,} bytes)")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    with nothing_left_behind():
        main()
