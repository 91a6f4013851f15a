"""Enqueue benchmark: one job per call, many callers at once (what uploads
do), ours against BullMQ's `queue.add`, on one private redis-server, in the
same run.

    .venv/bin/python bench/enqueue_bench.py [--jobs 20000] [--callers 50] [--rounds 3] [--replica]

Each contender: `--callers` concurrent callers, each enqueueing one no-op job
at a time and awaiting it, `--jobs` in all, on a flushed Redis with no
consumer; the clock runs from the first call to the last answer.
- ours: `shared.enqueuer.Enqueuer` (pipelined XADDs, and `WAIT 1` after each
  batch when the master has a replica), in this process, on uvloop;
- one XADD per call: redis-py's `xadd` through the pool, as every enqueue was
  before the Enqueuer, for reference;
- BullMQ 6.7 (Node, ioredis 5): `queue.add` from as many concurrent callers
  (bench/bullmq/adder.mjs; install with `npm --prefix bench/bullmq ci`), its
  process started and connected beforehand, timed by its own clock.
With `--replica` the same runs follow on a master with one replica
(`redis-server --replicaof`): ours then WAITs for it after every batch
(`redis.replica_wait_timeout` 1 s); BullMQ has no such wait.
Rounds alternate the contenders; the figures are medians.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, nothing_left_behind, redis_server
from bench.queue_bench import BULLMQ, bullmq_installed

NOOP = "noop"
OURS = "ours (Enqueuer)"
ONE_XADD = "one XADD per call (before)"
BULLMQ_ADD = "BullMQ 6.7 queue.add"


async def _callers(n: int, callers: int, call: Callable[[], Awaitable[object]]) -> float:
    """Seconds for `callers` concurrent loops making `n` calls in all."""
    left = n

    async def caller() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await call()

    t0 = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return time.perf_counter() - t0


async def run_ours(url: str, n: int, callers: int, wait: float) -> tuple[float, int]:
    """(jobs/s, WAITs issued)."""
    from shared.enqueuer import Enqueuer
    from shared.jobs import Job
    from shared.redis_client import open_redis

    redis = open_redis(url)
    stream = f"files_manager:jobs:{NOOP}"
    waits_before, length_before = await _waits(redis), await redis.xlen(stream)
    try:
        async with Enqueuer(redis, wait) as enqueuer:
            await enqueuer.enqueue(Job(NOOP, {}))  # connected, replicas read: not on the clock
            elapsed = await _callers(n, callers, lambda: enqueuer.enqueue(Job(NOOP, {})))
            if enqueuer.unreplicated:
                print(f"  {enqueuer.unreplicated} jobs not acknowledged by a replica in time", flush=True)
        waits = await _waits(redis) - waits_before
        assert await redis.xlen(stream) == length_before + n + 1, "a job is missing or doubled"
    finally:
        await redis.aclose()
    return n / elapsed, waits


async def run_one_xadd(url: str, n: int, callers: int) -> float:
    from shared.jobs import Job, stream_of
    from shared.redis_client import open_redis

    redis = open_redis(url)
    try:
        await redis.ping()

        async def call() -> None:
            await redis.xadd(stream_of(NOOP), Job(NOOP, {}).fields())  # type: ignore[arg-type]

        elapsed = await _callers(n, callers, call)
    finally:
        await redis.aclose()
    return n / elapsed


async def run_bullmq(url: str, n: int, callers: int) -> float:
    proc = await asyncio.create_subprocess_exec(
        "node", str(BULLMQ / "adder.mjs"), url, str(n), str(callers), cwd=BULLMQ,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if line.strip() != b"ready":
            raise RuntimeError(f"BullMQ adder said {line!r}")
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
        line = await asyncio.wait_for(proc.stdout.readline(), 600)
        word, _, seconds = line.decode().partition(" ")
        if word != "done":
            raise RuntimeError(f"BullMQ adder said {line!r}")
        await proc.wait()
        return n / float(seconds)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _waits(redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_wait", {}).get("calls", 0))


async def _flush(url: str) -> None:
    from redis.asyncio import Redis

    async with Redis.from_url(url) as redis:
        await redis.flushall()


async def _replica_up(master: str, replica: str) -> None:
    from redis.asyncio import Redis

    async with Redis.from_url(master) as m, Redis.from_url(replica) as r:
        deadline = time.monotonic() + 30
        while True:
            if ((await m.info("replication")).get("connected_slaves") == 1
                    and (await r.info("replication")).get("master_link_status") == "up"):
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the replica did not connect")
            await asyncio.sleep(0.05)


async def bench_on(url: str, args: argparse.Namespace, wait: float) -> dict[str, Any]:
    """Medians of jobs/s by contender, and of ours / BullMQ's within each round
    (the machine's load moves both sides of a round alike)."""
    runs: dict[str, list[float]] = {OURS: [], ONE_XADD: []}
    if bullmq_installed():
        runs[BULLMQ_ADD] = []
    for _ in range(args.rounds):
        for label in runs:
            await _flush(url)
            if label == OURS:
                rate, waits = await run_ours(url, args.jobs, args.callers, wait)
                if wait:
                    print(f"  {waits} WAITs for {args.jobs} jobs", flush=True)
            elif label == ONE_XADD:
                rate = await run_one_xadd(url, args.jobs, args.callers)
            else:
                rate = await run_bullmq(url, args.jobs, args.callers)
            runs[label].append(rate)
            print(f"{label:<30} {rate:>10,.0f} jobs/s", flush=True)
    row: dict[str, Any] = {label: statistics.median(rates) for label, rates in runs.items()}
    if BULLMQ_ADD in runs:
        ratios = [ours / peer for ours, peer in zip(runs[OURS], runs[BULLMQ_ADD], strict=True)]
        row["ratios"] = ratios
        print(f"ours / BullMQ by round: {', '.join(f'{r:.2f}x' for r in ratios)}", flush=True)
    return row


async def bench(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    if not bullmq_installed():
        print("BullMQ not installed (npm --prefix bench/bullmq ci): ours only", flush=True)
    results = {}
    with redis_server() as url:
        print("-- no replica", flush=True)
        results["no replica"] = await bench_on(url, args, args.wait)
        if args.replica:
            port = url.rsplit(":", 1)[1].split("/")[0]
            with redis_server(options=("--replicaof", "127.0.0.1", port)) as replica:
                await _replica_up(url, replica)
                print("-- one replica (ours WAITs)", flush=True)
                results["one replica"] = await bench_on(url, args, args.wait)
    return results


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    print()
    print(f"| master | contender | jobs/s ({args.callers} callers, median) | vs BullMQ queue.add, "
          "same round (median, range) |")
    print("|---|---|---:|---:|")
    for setup, row in results.items():
        ratios = row.get("ratios")
        for label in (OURS, ONE_XADD, BULLMQ_ADD):
            if label not in row:
                continue
            if label == OURS and ratios:
                ratio = f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
            elif BULLMQ_ADD in row:
                ratio = f"{row[label] / row[BULLMQ_ADD]:.2f}x"
            else:
                ratio = "-"
            print(f"| {setup} | {label} | {row[label]:,.0f} | {ratio} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--callers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--wait", type=float, default=1.0, help="redis.replica_wait_timeout for ours")
    parser.add_argument("--replica", action="store_true", help="also on a master with one replica")
    args = parser.parse_args()
    import uvloop

    results = uvloop.run(bench(args))
    report(results, args)
    out = ROOT / "bench" / "results" / "enqueue_bench.json"
    out.parent.mkdir(exist_ok=True)
    with contextlib.suppress(OSError):
        out.write_text(json.dumps({"args": vars(args), "results": results}, indent=2))


if __name__ == "__main__":
    with nothing_left_behind():
        main()
