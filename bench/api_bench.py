"""API benchmark: authenticated GET /files/:id and GET /files (a folder of
10,000 files, page 0 and page 400) against a bare aiohttp handler returning a
constant JSON body; one uvloop process each, same run, wrk on loopback.

    .venv/bin/python bench/api_bench.py [--seconds 10] [--connections 64] [--db sqlite|mongo URL]

Targets (issue 2): GET /files/:id at least 50% of the bare handler's req/s;
page 400 no slower than twice page 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PYTHON, ROOT, free_port, redis_server, wait_http, wrk  # noqa: E402


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
        token = await TokenStore(redis, 86400).issue(user.id)
        return token, folder.id, created[len(created) // 2].id
    finally:
        await storage.close()
        await redis.aclose()


@contextlib.contextmanager
def server(kind: str, env: dict[str, str]):
    port = free_port()
    proc = subprocess.Popen([PYTHON, str(ROOT / "bench" / "api_servers.py"), kind, str(port)],
                            env=env, stdout=subprocess.DEVNULL, cwd=ROOT)
    try:
        wait_http(f"http://127.0.0.1:{port}/status")
        yield f"http://127.0.0.1:{port}", [proc.pid]
    finally:
        proc.terminate()
        proc.wait(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--db", default="sqlite", help="sqlite, or a mongodb:// URL")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="api-bench-") as tmp, redis_server() as redis_url:
        db_url = f"sqlite:///{tmp}/bench.sqlite3" if args.db == "sqlite" else args.db
        env = {**os.environ, "REDIS_URL": redis_url, "DB_URL": db_url, "FOLDER_PATH": f"{tmp}/files",
               "LOG_FORMAT": "json", "PYTHONPATH": str(ROOT)}
        token, folder_id, file_id = asyncio.run(seed(env, args.files))
        auth = {"X-Token": token}
        results: dict[str, dict[str, float]] = {}
        with server("bare", env) as (base, pids):
            run = lambda url, **kw: wrk(url, seconds=args.seconds, connections=args.connections,  # noqa: E731
                                        server_pids=pids, **kw)
            results["bare constant JSON"] = run(f"{base}/files/{file_id}")
        with server("ours", env) as (base, pids):
            run = lambda url, **kw: wrk(url, seconds=args.seconds, connections=args.connections,  # noqa: E731
                                        server_pids=pids, **kw)
            results["GET /files/:id"] = run(f"{base}/files/{file_id}", headers=auth)
            results["GET /files page 0"] = run(f"{base}/files?parentId={folder_id}&page=0", headers=auth)
            results["GET /files page 400"] = run(f"{base}/files?parentId={folder_id}&page=400", headers=auth)
            results["GET /status"] = run(f"{base}/status")

    bare = results["bare constant JSON"]["rps"]
    bare_cpu = results["bare constant JSON"]["cpu_us_per_req"]
    print(f"{'case':24} {'req/s':>9} {'vs bare':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>11}"
          f" {'CPU vs bare':>12} {'errors':>7}")
    for name, r in results.items():
        print(f"{name:24} {r['rps']:9.0f} {r['rps'] / bare:8.2f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f}"
              f" {r['cpu_us_per_req']:11.1f} {bare_cpu / r['cpu_us_per_req']:12.2f}"
              f" {int(r['non2xx'] + r['errors']):7d}")
    page_ratio = results["GET /files page 0"]["rps"] / results["GET /files page 400"]["rps"]
    print(f"\nGET /files/:id / bare = {results['GET /files/:id']['rps'] / bare:.2f} (target >= 0.50)")
    print(f"page 400 time / page 0 time = {page_ratio:.2f} (target <= 2.0)")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "api_bench.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
