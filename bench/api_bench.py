"""API benchmark: authenticated GET /files/:id and GET /files (a folder of
10,000 files, page 0 and page 400) against a bare aiohttp handler returning a
constant JSON body; one uvloop process each, same run, wrk on loopback.

    .venv/bin/python bench/api_bench.py [--seconds 10] [--rounds 3] [--connections 64]

The servers run on CPU 1 (one at a time under load, the others idle), wrk and
Redis on CPU 0; each round runs every case back to back, in reverse order every
other round, and each figure is the median of the rounds.
Targets (issue 2): GET /files/:id at least 50% of the bare handler's req/s;
page 400 no slower than twice page 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, nothing_left_behind, python_server, redis_server, wrk

SERVER_CPU, LOAD_CPU = 1, 0


async def seed(env: dict[str, str], files: int) -> tuple[str, str, str]:
    """A user with a token, a folder of `files` files; returns (token, folder id, a file id)."""
    from shared.config import load_settings
    from shared.redis_client import open_redis
    from shared.storage import NewFile, open_storage
    from shared.tokens import TokenStore

    settings = load_settings(env=env)
    storage = await open_storage(settings.storage.db_url)
    redis = open_redis(settings.redis.url)
    try:
        user = await storage.create_user("bench@example.com", "x")
        folder = await storage.create_file(NewFile(user.id, "bench", "folder", False, 0, None))
        batch = [
            storage.create_file(NewFile(user.id, f"f{i}.txt", "file", False, folder.id, f"/nonexistent/{i}"))
            for i in range(files)
        ]
        created = []
        for i in range(0, len(batch), 500):
            created += await asyncio.gather(*batch[i:i + 500])
        token = (await TokenStore(redis, 86400).issue(user.id)).token
        return token, folder.id, created[len(created) // 2].id
    finally:
        await storage.close()
        await redis.aclose()


def server(kind: str, env: dict[str, str]):
    """One server process of `kind` (bench/api_servers.py), pinned to SERVER_CPU."""
    return python_server("api_servers.py", [kind], "/status", env=env, cpu=SERVER_CPU)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--files", type=int, default=10_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="api-bench-") as tmp, redis_server(cpu=LOAD_CPU) as redis_url:
        env = {**os.environ, "REDIS_URL": redis_url, "DB_URL": f"sqlite:///{tmp}/bench.sqlite3",
               "FOLDER_PATH": f"{tmp}/files", "LOG_FORMAT": "json", "PYTHONPATH": str(ROOT)}
        token, folder_id, file_id = asyncio.run(seed(env, args.files))
        auth = {"X-Token": token}
        cases = {
            "bare, prebuilt body": ("bare", "/x", {}),
            "bare, json_response": ("bare-json", "/x", {}),
            "GET /files/:id": ("ours", f"/files/{file_id}", auth),
            "GET /files page 0": ("ours", f"/files?parentId={folder_id}&page=0", auth),
            "GET /files page 400": ("ours", f"/files?parentId={folder_id}&page=400", auth),
            "GET /status": ("ours", "/status", {}),
        }
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
        with contextlib.ExitStack() as stack:
            servers = {kind: stack.enter_context(server(kind, env)) for kind in ("bare", "bare-json", "ours")}
            order = list(cases)
            for round_ in range(args.rounds):
                # Every case once per round, back to back, the order reversed every
                # other round: drift in the machine's speed hits both sides alike.
                for name in order if round_ % 2 == 0 else order[::-1]:
                    kind, path, headers = cases[name]
                    base, pids = servers[kind]
                    runs[name].append(wrk(base + path, seconds=args.seconds, connections=args.connections,
                                          headers=headers, server_pids=pids, cpu=LOAD_CPU))

    results = {name: {key: statistics.median(r[key] for r in rs) for key in rs[0]} for name, rs in runs.items()}
    bare = results["bare, prebuilt body"]
    print(f"{'case':24} {'req/s':>9} {'vs bare':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>11} {'errors':>7}")
    for name, r in results.items():
        print(f"{name:24} {r['rps']:9.0f} {r['rps'] / bare['rps']:8.2f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f}"
              f" {r['cpu_us_per_req']:11.1f} {int(r['non2xx'] + r['errors']):7d}")
    page_ratio = results["GET /files page 0"]["rps"] / results["GET /files page 400"]["rps"]
    by_id = results["GET /files/:id"]["rps"]
    paired = [ours["rps"] / peer["rps"] for ours, peer in zip(runs["GET /files/:id"], runs["bare, prebuilt body"], strict=True)]
    print(f"\nGET /files/:id / bare (prebuilt body) = {by_id / bare['rps']:.2f} (target >= 0.50);"
          f" / bare (json_response) = {by_id / results['bare, json_response']['rps']:.2f}")
    print(f"per-round ratios to the bare handler: {' '.join(f'{r:.2f}' for r in paired)};"
          f" median {statistics.median(paired):.2f}")
    print(f"page 400 time / page 0 time = {page_ratio:.2f} (target <= 2.0)")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "api_bench.json").write_text(json.dumps({"medians": results, "runs": runs, "paired": paired}, indent=2))


if __name__ == "__main__":
    with nothing_left_behind():
        main()
