"""Instructions per request, counted by valgrind's callgrind: authenticated
GET /files/:id against the bare aiohttp handler, each server under callgrind.

    .venv/bin/python bench/api_instructions.py [--requests 3000] [--warmup 1000]

Seconds on a shared VM move by 20 % from one run to the next; instruction
counts repeat to within about 2 %, so this is the figure to compare changes
by (it does not see cache misses or syscall time, which api_bench.py does).
Each server answers `--warmup` requests, the counters are zeroed
(callgrind_control -z), it answers `--requests` more from 32 keep-alive
connections, and the counters are dumped.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api_bench import seed
from bench.common import PYTHON, ROOT, ensure_tool, free_port, nothing_left_behind, redis_server, stop, wait_http


async def load(port: int, path: str, headers: dict[str, str], count: int, connections: int = 32) -> dict[int, int]:
    """`count` GETs of `path` over keep-alive connections; returns the statuses seen."""
    request = (f"GET {path} HTTP/1.1\r\nHost: bench\r\n"
               + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
    left = [count]
    statuses: dict[int, int] = {}

    async def one() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while left[0] > 0:
            left[0] -= 1
            writer.write(request)
            status = int((await reader.readline()).split()[1])
            statuses[status] = statuses.get(status, 0) + 1
            length = 0
            while (line := await reader.readline()) != b"\r\n":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
        writer.close()

    await asyncio.gather(*(one() for _ in range(connections)))
    return statuses


def count(kind: str, path: str, headers: dict[str, str], env: dict[str, str], args, folder: str) -> float:
    port = free_port()
    out = f"{folder}/callgrind.{kind}"
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                             PYTHON, str(ROOT / "bench" / "api_servers.py"), kind, str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        wait_http(f"http://127.0.0.1:{port}/status", timeout=120)
        asyncio.run(load(port, path, headers, args.warmup))
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True)
        statuses = asyncio.run(load(port, path, headers, args.requests))
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
    finally:
        stop(proc, 60)
    if statuses != {200: args.requests}:
        raise SystemExit(f"{kind}: unexpected statuses {statuses}")
    for dump in sorted(glob.glob(out + "*"), key=os.path.getmtime):
        text = Path(dump).read_text(errors="replace")
        if "Trigger: Program termination" not in text and (m := re.search(r"^summary:\s+(\d+)", text, re.M)):
            return int(m.group(1)) / args.requests
    raise SystemExit(f"{kind}: no callgrind dump found")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=1000)
    args = parser.parse_args()
    ensure_tool("valgrind", "valgrind")

    with tempfile.TemporaryDirectory(prefix="api-instr-") as tmp, redis_server() as redis_url:
        env = {**os.environ, "REDIS_URL": redis_url, "DB_URL": f"sqlite:///{tmp}/bench.sqlite3",
               "FOLDER_PATH": f"{tmp}/files", "LOG_FORMAT": "json", "PYTHONPATH": str(ROOT)}
        token, _, file_id = asyncio.run(seed(env, 10_000))
        bare = count("bare", "/x", {}, env, args, tmp)
        ours = count("ours", f"/files/{file_id}", {"X-Token": token}, env, args, tmp)
    print(f"bare handler       {bare:10,.0f} instructions/request")
    print(f"GET /files/:id     {ours:10,.0f} instructions/request")
    print(f"ratio bare / ours  {bare / ours:10.2f}")


if __name__ == "__main__":
    with nothing_left_behind():
        main()
