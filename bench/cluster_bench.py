"""Requests/s through nginx with 1, 2 and 3 nodes (scale-out.md, "Proven together").

Each node is `python supervisor.py` with API_WORKERS=1 and JOB_WORKERS=1, all on
the same engines (tests/cluster/engines.py chooses them: one PostgreSQL
database, a bucket of moto's S3 server, a Sentinel-managed Redis), behind the nginx of the cluster tests
(tests/cluster/nginx.py, the upstream block README.md shows). The load is wrk
through nginx with a fixed mix, half `GET /files/:id` (the metadata) and half
`GET /files/:id/data` (the content of a 1 KiB file), with a user's token. Also
one node straight, without nginx, to show what the load balancer costs.

"busy %": how busy the machine's CPUs were over the run (/proc/stat, all of
them, whoever used them). CPU per request: the user+system time of every node process (masters, API and
job workers, from /proc) over the run, divided by the requests answered; nginx's
own CPU apart. Each node's share of the requests is counted from nginx's
access log.

    .venv/bin/python bench/cluster_bench.py [--seconds 10] [--rounds 3] [--connections 32]
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import tempfile
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, cpu_seconds, nothing_left_behind, wrk
from shared.supervision.process import command_line
from tests.cluster.engines import shared_engines
from tests.cluster.harness import Cluster, running_cluster
from tests.cluster.nginx import AccessLog

RESULTS = ROOT / "bench" / "results" / "cluster_bench.json"

MIX = """-- Half the requests for a file's metadata, half for its content.
local paths = {"/files/%s", "/files/%s/data"}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[n %% 2 + 1])
end
"""


def call(method: str, url: str, body: dict | None = None, headers: dict[str, str] | None = None) -> dict:
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read())


def make_data(url: str) -> tuple[str, str]:
    """A user and a 1 KiB file of theirs: (token, file id)."""
    call("POST", f"{url}/users", {"email": "bench@example.com", "password": "bench-password"})
    auth = "Basic " + base64.b64encode(b"bench@example.com:bench-password").decode()
    token = call("GET", f"{url}/connect", headers={"Authorization": auth})["token"]
    file = call("POST", f"{url}/files", {"name": "small.txt", "type": "file",
                                         "data": base64.b64encode(b"x" * 1024).decode()}, {"X-Token": token})
    return token, file["id"]


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of every CPU since boot (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def measure(url: str, script: Path, token: str, node_pids: list[int], nginx_pids: list[int],
            args: argparse.Namespace) -> dict[str, float]:
    api_pids = [pid for pid in node_pids if command_line(pid).startswith("files-manager: api worker")]
    nginx_before, api_before, machine_before = cpu_seconds(nginx_pids), cpu_seconds(api_pids), machine_ticks()
    result = wrk(url, seconds=args.seconds, connections=args.connections, threads=1,
                 headers={"X-Token": token}, server_pids=node_pids, script=script)
    nginx_cpu, api_cpu = cpu_seconds(nginx_pids) - nginx_before, cpu_seconds(api_pids) - api_before
    result["nginx_cpu_us_per_req"] = nginx_cpu / result["requests"] * 1e6 if nginx_pids else 0.0
    result["api_cpu_us_per_req"] = api_cpu / result["requests"] * 1e6
    busy, total = (after - before for after, before in zip(machine_ticks(), machine_before, strict=True))
    result["machine_busy_pct"] = 100 * busy / total
    if result["non2xx"] or result["errors"]:
        raise SystemExit(f"failed requests: {result}")
    return result


def run_cluster(cluster: Cluster, script: Path, token: str, args: argparse.Namespace,
                direct: bool = False) -> dict:
    node_pids = [pid for node in cluster.nodes for pid in node.pids()]
    url = cluster.nodes[0].url if direct else cluster.url
    nginx_pids = [] if direct else cluster.nginx.pids()
    wrk(url, seconds=1, connections=args.connections, headers={"X-Token": token}, script=script)  # warm-up
    log = AccessLog(cluster.nginx.access_log)
    log.read()
    seen = len(log.entries)
    rounds = [measure(url, script, token, node_pids, nginx_pids, args) for _ in range(args.rounds)]
    shares = Counter(entry["upstream"].split(", ")[-1] for entry in log.read()[seen:])
    total = sum(shares.values()) or 1
    return {
        "rps": statistics.median(r["rps"] for r in rounds),
        "p99_ms": statistics.median(r["p99_ms"] for r in rounds),
        "cpu_us_per_req": statistics.median(r["cpu_us_per_req"] for r in rounds),
        "api_cpu_us_per_req": statistics.median(r["api_cpu_us_per_req"] for r in rounds),
        "nginx_cpu_us_per_req": statistics.median(r["nginx_cpu_us_per_req"] for r in rounds),
        "machine_busy_pct": statistics.median(r["machine_busy_pct"] for r in rounds),
        "shares": [round(100 * shares[node.address] / total) for node in cluster.nodes] if not direct else [100],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        folder = Path(tmp)
        script = folder / "mix.lua"
        with shared_engines(folder / "engines") as engines:
            token = ""
            for count in (1, 2, 3):
                with running_cluster(folder / f"{count}-nodes", engines.env(), count) as cluster:
                    if not token:
                        token, file_id = make_data(cluster.nodes[0].url)
                        script.write_text(MIX % (file_id, file_id))
                    runs = [("1 node, no nginx", True)] if count == 1 else []
                    runs.append((f"{count} node{'s' if count > 1 else ''}", False))
                    for label, direct in runs:
                        results[label] = run_cluster(cluster, script, token, args, direct)
                        print(f"{label:18} {results[label]}", file=sys.stderr)

    print(f"\nGET /files/:id and /files/:id/data (1 KiB), half each; wrk -t1 -c{args.connections}, "
          f"{args.seconds} s x {args.rounds} rounds (median)\n")
    print("CPU per request in microseconds: every node process (of which the API workers), then nginx\n")
    print(f"{'':18} {'req/s':>7} {'p99 ms':>7} {'nodes':>6} {'(API)':>6} {'nginx':>6} {'busy %':>7}  share per node (%)")
    for label, r in results.items():
        print(f"{label:18} {r['rps']:7.0f} {r['p99_ms']:7.1f} {r['cpu_us_per_req']:6.0f} "
              f"{r['api_cpu_us_per_req']:6.0f} {r['nginx_cpu_us_per_req']:6.0f} {r['machine_busy_pct']:7.0f}  "
              f"{'/'.join(str(s) for s in r['shares'])}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"args": vars(args), "results": results}, indent=2))


if __name__ == "__main__":
    with nothing_left_behind():
        main()
