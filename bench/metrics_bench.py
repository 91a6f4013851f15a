"""What /metrics costs: the same service with and without metrics, same run.

- Requests: an authenticated GET /files/:id under wrk against two
  `python supervisor.py` (2 API workers, a job worker, the same database and
  Redis), one with METRICS_TOKEN set (every request counted), one without.
  Rounds alternate which goes first, so a change in the machine's speed hits
  both alike; the figure is the median of the per-round ratios (req/s, and
  server CPU per request, the steadier one on a shared machine).
  Target: metrics cost < 5 %. Rounds on this shared 2-core machine move by
  +-20 %, more than the cost itself, so the recording is also timed in this
  process (record_request, 100,000 times) against the CPU a request takes,
  and, with --instructions, valgrind's callgrind counts the instructions per
  GET /files/:id of one API app with and without metrics (bench/api_instructions.py's
  harness): repeatable to about 2 %, unlike seconds here.
- Scrapes: after the load (every route's series exist), GET /metrics one after
  another, through an API worker (token) and through the master's metrics.port;
  and the text alone (shared/metrics/exposition.render on the service's own
  metrics directory, in this process). Target: < 20 ms.

    .venv/bin/python bench/metrics_bench.py [--seconds 5] [--rounds 6] [--scrapes 200] [--instructions]
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

    def __init__(self, env: dict[str, str], metered: bool, tmp: str) -> None:
        self.tmp = Path(tmp)  # its TMPDIR: where its metrics directory is
        self.port = free_port()
        self.metrics_port = free_port() if metered else 0
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**env, "PORT": str(self.port), "API_WORKERS": "2", "JOB_WORKERS": "1", "TMPDIR": tmp}
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


def recording_cost_us(count: int = 100_000) -> float:
    """Microseconds record_request takes, in a process recording into a metrics directory of its own."""
    code = f"""
import os, tempfile, timeit
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp()
from shared.config import load_settings
from services.api import metrics
assert metrics.start_recording(load_settings(env={{"METRICS_TOKEN": "x"}}))
record = metrics.record_request
print(min(timeit.repeat(lambda: record("/files/{{id}}", "GET", 200, 0.0004), number={count}, repeat=5)) / {count} * 1e6)
"""
    done = subprocess.run([PYTHON, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(done.stdout)


def instructions(requests: int, warmup: int) -> dict[str, float]:
    """Instructions per authenticated GET /files/:id, without and with metrics."""
    import asyncio
    from types import SimpleNamespace

    from bench.api_bench import seed
    from bench.api_instructions import count

    options = SimpleNamespace(requests=requests, warmup=warmup)
    with tempfile.TemporaryDirectory(prefix="metrics-instr-") as tmp, redis_server() as redis_url:
        env = {**os.environ, "REDIS_URL": redis_url, "DB_URL": f"sqlite:///{tmp}/bench.sqlite3",
               "FOLDER_PATH": f"{tmp}/files", "LOG_FORMAT": "json", "PYTHONPATH": str(ROOT)}
        for name in ("METRICS_TOKEN", "METRICS_PORT", "PROMETHEUS_MULTIPROC_DIR"):
            env.pop(name, None)
        token, _, file_id = asyncio.run(seed(env, 100))
        path, headers = f"/files/{file_id}", {"X-Token": token}
        os.mkdir(f"{tmp}/metrics")
        metered = {**env, "METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": f"{tmp}/metrics"}
        without = count("ours", path, headers, env, options, tmp)
        with_ = count("ours", path, headers, metered, options, tmp)
        recorded = list(Path(f"{tmp}/metrics").glob("histogram_*.db"))
        assert recorded, "the metered server recorded nothing"
    return {"without": without, "with": with_, "ratio": with_ / without}


def render_times(directory: Path, count: int) -> dict[str, float]:
    from shared.metrics.exposition import render

    times = []
    for _ in range(count):
        started = time.perf_counter()
        render(directory, None)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"median_ms": statistics.median(times), "p95_ms": times[int(len(times) * 0.95) - 1],
            "max_ms": times[-1], "bytes": len(render(directory, None))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument("--instructions", action="store_true", help="also count instructions (valgrind)")
    args = parser.parse_args()
    with (redis_server() as redis_url, tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as running):
        env = {**os.environ, "REDIS_URL": redis_url, "DB_URL": f"sqlite:///{tmp}/db.sqlite3",
               "FOLDER_PATH": f"{tmp}/files", "LOG_FORMAT": "json", "ARGON2_TIME_COST": "1",
               "ARGON2_MEMORY_KIB": "64", "PYTHONPATH": str(ROOT)}
        for name in ("METRICS_TOKEN", "METRICS_PORT"):
            env.pop(name, None)
        services = {}
        for kind, metered in (("without", False), ("with", True)):
            services[kind] = Service(env, metered, tempfile.mkdtemp(dir=tmp))
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
        [directory] = metered.tmp.glob("files-manager-metrics-*")
        scrapes["the text alone (no Redis, no HTTP)"] = render_times(directory, args.scrapes)
        recording = recording_cost_us()

    results = {
        "requests": {kind: {"rps": statistics.median(r["rps"] for r in rs),
                            "cpu_us_per_req": statistics.median(r["cpu_us_per_req"] for r in rs),
                            "errors": sum(r["errors"] + r["non2xx"] for r in rs)} for kind, rs in runs.items()},
        "rps_ratio_per_round": rps_ratios, "cpu_ratio_per_round": cpu_ratios,
        "rps_ratio": statistics.median(rps_ratios), "cpu_ratio": statistics.median(cpu_ratios),
        "scrapes": scrapes, "record_request_us": recording,
        "record_request_share": recording / results_cpu(runs["without"]),
    }
    print("GET /files/:id, 2 API workers + a job worker, wrk -t1 -c64:")
    for kind, row in results["requests"].items():
        print(f"  {kind + ' metrics':<16} {row['rps']:>9,.0f} req/s  {row['cpu_us_per_req']:7.1f} us CPU/req  "
              f"errors {row['errors']}")
    print(f"  with/without, req/s per round: {', '.join(f'{r:.3f}' for r in rps_ratios)}  "
          f"median {results['rps_ratio']:.3f} (cost {1 - results['rps_ratio']:+.1%})")
    print(f"  with/without, CPU/req per round: {', '.join(f'{r:.3f}' for r in cpu_ratios)}  "
          f"median {results['cpu_ratio']:.3f} (cost {results['cpu_ratio'] - 1:+.1%})")
    print(f"  record_request alone: {recording:.2f} us, {results['record_request_share']:.1%} of the CPU "
          f"a request takes without metrics")
    if args.instructions:
        counted = results["instructions"] = instructions(3000, 1000)
        print(f"  instructions per request (callgrind): {counted['without']:,.0f} without, "
              f"{counted['with']:,.0f} with: ratio {counted['ratio']:.3f} (cost {counted['ratio'] - 1:+.1%})")
    print(f"GET /metrics ({args.scrapes} one after another):")
    for where, row in scrapes.items():
        print(f"  {where:<36} median {row['median_ms']:.2f} ms  p95 {row['p95_ms']:.2f} ms  "
              f"max {row['max_ms']:.2f} ms  ({row['bytes']:,} bytes)")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))


def results_cpu(rounds: list[dict]) -> float:
    return statistics.median(r["cpu_us_per_req"] for r in rounds)


if __name__ == "__main__":
    with nothing_left_behind():
        main()
