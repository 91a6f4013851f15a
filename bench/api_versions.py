"""Authenticated GET /files/:id of this checkout against another checkout of
the project (an older commit, a branch), and both against the bare handler,
in one run: what a change costs the hot path, in paired rounds.

    git worktree add /tmp/before <rev>
    .venv/bin/python bench/api_versions.py /tmp/before [--rounds 10] [--seconds 4]

Each checkout serves with its own code (its bench/api_servers.py, as its API
workers serve) on one database and Redis seeded by this checkout: an older
schema opens the newer database for reads. Rounds run every server back to
back, in reverse order every other round; the figures are medians of the
per-round ratios to the bare handler and of the server CPU per request.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api_bench import LOAD_CPU, SERVER_CPU, seed
from bench.common import PYTHON, ROOT, free_port, nothing_left_behind, pinned, redis_server, stop, wait_http, wrk


@contextlib.contextmanager
def server(checkout: Path, kind: str, env: dict[str, str]) -> Iterator[tuple[str, list[int]]]:
    port = free_port()
    proc = subprocess.Popen([*pinned(SERVER_CPU), PYTHON, str(checkout / "bench" / "api_servers.py"), kind, str(port)],
                            env={**env, "PYTHONPATH": str(checkout)}, cwd=checkout, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/status")
        yield base, [proc.pid]
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="another checkout of the project")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--files", type=int, default=1000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="api-versions-") as tmp, redis_server(cpu=LOAD_CPU) as redis_url:
        env = {**os.environ, "REDIS_URL": redis_url, "DB_URL": f"sqlite:///{tmp}/bench.sqlite3",
               "FOLDER_PATH": f"{tmp}/files", "LOG_FORMAT": "json"}
        token, _, file_id = asyncio.run(seed(env, args.files))
        auth = {"X-Token": token}
        with contextlib.ExitStack() as stack:
            cases = [
                ("bare", stack.enter_context(server(ROOT, "bare", env)), "/x", {}),
                ("this checkout", stack.enter_context(server(ROOT, "ours", env)), f"/files/{file_id}", auth),
                (f"{args.other}", stack.enter_context(server(args.other.resolve(), "ours", env)),
                 f"/files/{file_id}", auth),
            ]
            runs: dict[str, list[dict[str, float]]] = {name: [] for name, *_ in cases}
            for round_ in range(args.rounds):
                for name, (base, pids), path, headers in cases if round_ % 2 == 0 else cases[::-1]:
                    result = wrk(base + path, seconds=args.seconds, connections=64, headers=headers,
                                 server_pids=pids, cpu=LOAD_CPU)
                    if result["non2xx"] or result["errors"]:
                        raise SystemExit(f"{name}: {result}")
                    runs[name].append(result)
    bare = runs["bare"]
    print(f"{'server':40} {'vs bare (median of rounds)':>28} {'CPU us/req':>11}")
    for name, rounds in runs.items():
        ratio = statistics.median(r["rps"] / b["rps"] for r, b in zip(rounds, bare, strict=True))
        cpu = statistics.median(r["cpu_us_per_req"] for r in rounds)
        print(f"{name:40} {ratio:28.3f} {cpu:11.1f}")


if __name__ == "__main__":
    with nothing_left_behind():
        main()
