"""Memory and CPU of v1 POST /files under concurrent large uploads.

    .venv/bin/python bench/upload_memory.py [--uploads 12] [--mib 50] [--rounds 2] [--root PATH]

Starts its own redis-server and `python supervisor.py` (2 API workers, no job
worker) from `--root` (this checkout by default; point it at an older one to
measure before a change), signs a user up, then sends `--uploads` concurrent
uploads of `--mib` MiB of random content, base64 in the JSON body, as the
original's clients do. Every API worker's RSS is sampled every 10 ms from
/proc (and its kernel high-water mark, VmHWM, reset before each round through
clear_refs, is read after). Server CPU is user+system time of the API workers
per GiB of request body. The peer, in the same run: a bare aiohttp handler on
uvloop (bench/upload_peer.py) reading the same bodies chunk by chunk and
throwing them away: what taking the bytes in costs at the least.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench.common import PYTHON, ROOT, cpu_seconds, free_port, python_server, redis_server, wait_http

MIB = 1024 * 1024


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class RssSampler(threading.Thread):
    """The highest VmRSS seen per process, sampled every 10 ms."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.peak = dict.fromkeys(pids, 0)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for pid in self.pids:
                try:
                    self.peak[pid] = max(self.peak[pid], status_kib(pid, "VmRSS"))
                except (FileNotFoundError, ProcessLookupError):
                    pass
            self.done.wait(0.01)


async def send_all(url: str, body: bytes, uploads: int, token: str) -> list[int]:
    headers = {"X-Token": token, "Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async def one() -> int:
            async with session.post(url + "/files", data=body, headers=headers) as resp:
                await resp.read()
                return resp.status
        return await asyncio.gather(*(one() for _ in range(uploads)))


def measure(url: str, pids: list[int], body: bytes, uploads: int, token: str) -> dict:
    for pid in pids:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset VmHWM
    sampler = RssSampler(pids)
    sampler.start()
    cpu_before = cpu_seconds(pids)
    started = time.monotonic()
    statuses = asyncio.run(send_all(url, body, uploads, token))
    wall = time.monotonic() - started
    cpu = cpu_seconds(pids) - cpu_before
    sampler.done.set()
    sampler.join()
    gib = len(body) * uploads / 1024**3
    return {
        "statuses": {str(s): statuses.count(s) for s in sorted(set(statuses))},
        "peak_rss_mib": [round(sampler.peak[p] / 1024) for p in pids],
        "vmhwm_mib": [round(status_kib(p, "VmHWM") / 1024) for p in pids],
        "cpu_s_per_gib": round(cpu / gib, 3),
        "wall_s": round(wall, 2),
    }


def start_service(root: Path, redis_url: str, folder: Path, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PORT": str(port), "FOLDER_PATH": str(folder / "files"),
           "DB_URL": f"sqlite:///{folder / 'db.sqlite3'}", "REDIS_URL": redis_url,
           "API_WORKERS": str(workers), "JOB_WORKERS": "0", "LOG_FORMAT": "json",
           "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "64"}
    proc = subprocess.Popen([PYTHON, str(root / "supervisor.py")], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/status", timeout=30)
    return proc, url


def sign_up(url: str) -> str:
    body = json.dumps({"email": "bench@example.com", "password": "bench-pw"}).encode()
    urllib.request.urlopen(urllib.request.Request(url + "/users", data=body, method="POST",
                                                  headers={"Content-Type": "application/json"}))
    basic = base64.b64encode(b"bench@example.com:bench-pw").decode()
    request = urllib.request.Request(url + "/connect", headers={"Authorization": f"Basic {basic}"})
    with urllib.request.urlopen(request) as resp:
        return json.loads(resp.read())["token"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=12)
    parser.add_argument("--mib", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args()

    content = os.urandom(args.mib * MIB)
    body = json.dumps({"name": "big.bin", "type": "file", "data": base64.b64encode(content).decode()}).encode()
    del content
    print(f"{args.uploads} concurrent uploads of {args.mib} MiB ({len(body) / MIB:.1f} MiB of JSON each), "
          f"{args.rounds} rounds, root {args.root}")
    results: dict[str, list[dict]] = {"ours": [], "peer": []}
    with redis_server() as redis_url, tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
        proc, url = start_service(args.root.resolve(), redis_url, Path(tmp), args.workers)
        try:
            token = sign_up(url)
            workers = children(proc.pid)
            assert len(workers) == args.workers, f"expected {args.workers} API workers, found {workers}"
            with python_server("upload_peer.py", [], "/status") as (peer_url, peer_pids):
                for round_no in range(args.rounds):
                    order = [("ours", url, workers), ("peer", peer_url, peer_pids)]
                    for name, base, pids in order if round_no % 2 == 0 else order[::-1]:
                        result = measure(base, pids, body, args.uploads, token)
                        results[name].append(result)
                        print(f"  round {round_no + 1} {name:4}: {result}")
                        for blob in (Path(tmp) / "files").glob("*"):
                            blob.unlink()
        finally:
            proc.terminate()
            proc.wait(60)

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    ours_peak = max(max(r["peak_rss_mib"] + r["vmhwm_mib"]) for r in results["ours"])
    print(f"\nours: highest API worker RSS {ours_peak} MiB; CPU {median('ours', 'cpu_s_per_gib')} s/GiB; "
          f"peer: {median('peer', 'cpu_s_per_gib')} s/GiB, RSS {max(max(r['vmhwm_mib']) for r in results['peer'])} MiB; "
          f"CPU ratio {median('ours', 'cpu_s_per_gib') / median('peer', 'cpu_s_per_gib'):.2f}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"upload_memory-{int(time.time())}.json").write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=2))


if __name__ == "__main__":
    main()
