"""Queue benchmark: no-op job throughput of our worker against arq 0.28, on
one private redis-server, in the same run.

    .venv/bin/python bench/queue_bench.py [--jobs 20000] [--arq-jobs 2000] [--rounds 1]

Each consumer runs in its own process (uvloop for every side), against a
flushed Redis:
- end to end: the consumer is up and idle; the producer (this process) enqueues
  the jobs in pipelined batches of 100 (ours and bare: the XADD of
  shared.enqueuer.Enqueuer, packed once; arq: its own enqueue_job, 100 at a time
  with gather); the clock runs from the first enqueue
  until the last job is acknowledged (our stream empty: acked entries are
  deleted; arq's queue ZSET empty: arq removes a job when it finished).
- consume only: the jobs are enqueued first, then the consumer starts; the
  clock runs from the first job taken until the last acknowledged.
Completion is seen by polling the queue's length every 2 ms.

Contenders:
- ours: `JobWorker` with a no-op kind registered by this bench (`handlers=`),
  every guarantee on (ack after the handler, XACK+XDEL in MULTI, retries and
  dead letters armed, reaper and mover running), logs at info (two JSON lines
  per job, written to /dev/null), at concurrency 8, 50 (the default, and the concurrency of BullMQ's
  figure in the spec) and 100;
- arq 0.28 with its defaults and with `max_jobs=100` (also logging each job);
- bare: XREADGROUP COUNT 100 + pipelined XACK/XDEL, no per-job work at all:
  the ceiling of a Python consumer, to see what our guarantees cost;
- BullMQ 6.7 (Node, ioredis 5) at concurrency 50 with its defaults, when installed:
      npm --prefix bench/bullmq ci
  (bench/bullmq/: a Node consumer, and a Node producer that connects first and
  adds the jobs with addBulk, 100 at a time, when told to). Without it the
  ratio is against its figure in ../shared/spec/performance.md (~14k jobs/s
  end to end, measured on this kind of machine).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PYTHON, ROOT, cpu_seconds, nothing_left_behind, redis_server

NOOP = "noop"
BULLMQ_E2E = 14_000  # jobs/s, spec/performance.md (BullMQ 6.7, concurrency 50)
BULLMQ = ROOT / "bench" / "bullmq"
BULLMQ_LABEL = "BullMQ 6.7 (Node), concurrency 50"


def bullmq_installed() -> bool:
    return shutil.which("node") is not None and (BULLMQ / "node_modules" / "bullmq").is_dir()


# -- consumers (run as `queue_bench.py --child KIND ...`) ---------------------

async def _child_ours(url: str, concurrency: int, ready: Path, log_level: str) -> None:
    from services.worker.consumer import JobWorker
    from shared.config import load_settings
    from shared.logging import configure_logging

    tmp = Path(tempfile.mkdtemp(prefix="queue-bench-"))
    settings = load_settings(env={
        "REDIS_URL": url, "FOLDER_PATH": str(tmp / "files"),
        "DB_URL": f"sqlite:///{tmp / 'db.sqlite3'}", "WORKER_CONCURRENCY": str(concurrency),
        "LOG_FORMAT": "json", "LOG_LEVEL": log_level,
    })
    configure_logging(settings.log, role="worker")

    async def noop(job) -> None:
        return None

    worker = JobWorker(settings, handlers={NOOP: noop})
    await worker.start()
    ready.touch()
    await worker.run()  # until killed


async def _child_arq(url: str, max_jobs: int | None, ready: Path, log_level: str) -> None:
    import logging

    from arq.connections import RedisSettings, create_pool
    from arq.worker import Worker

    logging.basicConfig(level=log_level.upper(), stream=sys.stdout)

    async def noop(ctx) -> None:
        return None

    noop.__qualname__ = noop.__name__ = NOOP
    pool = await create_pool(RedisSettings.from_dsn(url))
    kwargs = {"max_jobs": max_jobs} if max_jobs else {}
    worker = Worker(functions=[noop], redis_pool=pool, handle_signals=False, **kwargs)
    ready.touch()
    await worker.main()


async def _child_bare(url: str, ready: Path) -> None:
    from redis.asyncio import Redis
    from redis.exceptions import ResponseError

    from shared.jobs import GROUP, stream_of

    redis = Redis.from_url(url)
    stream = stream_of(NOOP)
    with contextlib.suppress(ResponseError):  # BUSYGROUP: made already
        await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    ready.touch()
    while True:
        reply = await redis.xreadgroup(GROUP, "bare", {stream: ">"}, count=100, block=1000)
        for _, entries in reply or ():
            ids = [entry_id for entry_id, _ in entries]
            pipe = redis.pipeline(transaction=True)
            pipe.xack(stream, GROUP, *ids)
            pipe.xdel(stream, *ids)
            await pipe.execute()


def child_main(args: argparse.Namespace) -> None:
    import uvloop

    ready = Path(args.ready)
    if args.child == "ours":
        coro = _child_ours(args.url, args.concurrency, ready, args.log_level)
    elif args.child == "arq":
        coro = _child_arq(args.url, args.concurrency or None, ready, args.log_level)
    else:
        coro = _child_bare(args.url, ready)
    uvloop.run(coro)


# -- the parent: producer, clock, report -------------------------------------

class Contender:
    def __init__(self, label: str, child: str, concurrency: int, jobs: int) -> None:
        self.label, self.child, self.concurrency, self.jobs = label, child, concurrency, jobs

    @property
    def is_arq(self) -> bool:
        return self.child == "arq"

    @property
    def is_bullmq(self) -> bool:
        return self.child == "bullmq"


class Producer:
    """Enqueues the jobs when `go` is awaited. BullMQ's is a Node process,
    started and connected beforehand, so its start-up is not on the clock."""

    def __init__(self, redis, url: str, contender: Contender, n: int) -> None:
        self.redis, self.url, self.contender, self.n = redis, url, contender, n
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        if self.contender.is_bullmq:
            self.proc = await asyncio.create_subprocess_exec(
                "node", str(BULLMQ / "producer.mjs"), self.url, str(self.n), cwd=BULLMQ,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            await self._expect(b"ready")

    async def go(self) -> None:
        if self.proc is None:
            await _enqueue(self.redis, self.contender, self.n)
            return
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        await self.proc.stdin.drain()
        await self._expect(b"done")
        await self.proc.wait()

    async def _expect(self, word: bytes) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
        if line.strip() != word:
            raise RuntimeError(f"BullMQ producer said {line!r}, not {word!r}")


async def _enqueue(redis, contender: Contender, n: int) -> None:
    if contender.is_arq:
        from arq.connections import ArqRedis

        arq = ArqRedis(connection_pool=redis.connection_pool)
        for start in range(0, n, 100):
            await asyncio.gather(*(arq.enqueue_job(NOOP) for _ in range(start, min(n, start + 100))))
        return
    from shared.jobs import Job, stream_of

    # The same XADD as the Enqueuer sends, packed once and sent in batches:
    # building each command in Python would make the producer, not the
    # consumer, the bottleneck on two cores.
    args = ["XADD", stream_of(NOOP), "*"]
    for name, value in Job(NOOP, {}).fields().items():
        args += [name, value]
    conn = await redis.connection_pool.get_connection()
    try:
        command = b"".join(conn.pack_command(*args))
        for start in range(0, n, 100):
            k = min(n, start + 100) - start
            await conn.send_packed_command(command * k)
            for _ in range(k):
                await conn.read_response()
    finally:
        await redis.connection_pool.release(conn)


async def _remaining(redis, contender: Contender) -> int:
    if contender.is_arq:
        return await redis.zcard("arq:queue")
    if contender.is_bullmq:  # moved between these atomically by BullMQ's scripts
        pipe = redis.pipeline(transaction=False)
        pipe.llen(f"bull:{NOOP}:wait")
        pipe.llen(f"bull:{NOOP}:active")
        pipe.zcard(f"bull:{NOOP}:prioritized")
        return sum(await pipe.execute())
    from shared.jobs import stream_of

    return await redis.xlen(stream_of(NOOP))


def _start_child(url: str, contender: Contender, ready: Path, log_level: str) -> subprocess.Popen:
    if contender.is_bullmq:
        return subprocess.Popen(["node", str(BULLMQ / "consumer.mjs"), url, str(contender.concurrency),
                                 str(ready)], cwd=BULLMQ, stdout=subprocess.DEVNULL)
    cmd = [PYTHON, __file__, "--child", contender.child, "--url", url, "--ready", str(ready),
           "--concurrency", str(contender.concurrency), "--log-level", log_level]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, env=os.environ.copy())


async def _wait_ready(ready: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"consumer did not start (exit {proc.poll()})")
        await asyncio.sleep(0.01)


async def run_one(url: str, contender: Contender, mode: str, log_level: str) -> tuple[float, float]:
    """(jobs/s, consumer CPU µs per job) for one contender in one mode, on a
    flushed Redis. CPU per job is what other load on the machine disturbs least."""
    from redis.asyncio import Redis

    redis = Redis.from_url(url)
    await redis.flushall()
    ready = Path(tempfile.mktemp(prefix="queue-bench-ready-"))
    n = contender.jobs
    proc = None
    try:
        producer = Producer(redis, url, contender, n)
        await producer.start()
        if mode == "consume":
            if contender.child in ("ours", "bare"):  # the group before the jobs (id 0 reads them all anyway)
                from shared.jobs import GROUP, stream_of

                await redis.xgroup_create(stream_of(NOOP), GROUP, id="0", mkstream=True)
            await producer.go()
            proc = _start_child(url, contender, ready, log_level)
            await _wait_ready(ready, proc)
            while (left := await _remaining(redis, contender)) >= n:
                await asyncio.sleep(0.002)
            t0 = time.perf_counter()
            cpu0 = cpu_seconds([proc.pid])
            start_left = left
        else:
            proc = _start_child(url, contender, ready, log_level)
            await _wait_ready(ready, proc)
            await asyncio.sleep(0.2)  # let it settle into its idle read/poll
            t0 = time.perf_counter()
            cpu0 = cpu_seconds([proc.pid])
            await producer.go()
            start_left = n
        while await _remaining(redis, contender) > 0:
            await asyncio.sleep(0.002)
        elapsed = time.perf_counter() - t0
        cpu = cpu_seconds([proc.pid]) - cpu0
        return start_left / elapsed, cpu / start_left * 1e6
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        ready.unlink(missing_ok=True)
        await redis.aclose()


async def bench(args: argparse.Namespace) -> dict:
    contenders = [
        Contender("ours, concurrency 8", "ours", 8, args.jobs),
        Contender("ours, concurrency 50 (default)", "ours", 50, args.jobs),
        Contender("ours, concurrency 100", "ours", 100, args.jobs),
        Contender("arq 0.28, defaults", "arq", 0, args.arq_jobs),
        Contender("arq 0.28, max_jobs=100", "arq", 100, args.arq_jobs * 2),
        Contender("bare XREADGROUP+XACK loop", "bare", 0, args.jobs),
    ]
    if bullmq_installed():
        contenders.append(Contender(BULLMQ_LABEL, "bullmq", 50, args.jobs))
    else:
        print(f"BullMQ not installed (npm --prefix bench/bullmq ci): ratios against its spec figure, "
              f"{BULLMQ_E2E:,} jobs/s", flush=True)
    if args.only:
        contenders = [c for c in contenders if any(word in c.label for word in args.only)]
    results: dict[str, dict[str, float]] = {}
    with redis_server() as url:
        for contender in contenders:
            row = {}
            for mode in ("e2e", "consume"):
                runs = [await run_one(url, contender, mode, args.log_level) for _ in range(args.rounds)]
                row[mode] = statistics.median(r[0] for r in runs)
                row[f"{mode}_cpu_us"] = statistics.median(r[1] for r in runs)
                print(f"{contender.label:<34} {mode:<8} {row[mode]:>10,.0f} jobs/s "
                      f"{row[f'{mode}_cpu_us']:>7.1f} µs CPU/job ({contender.jobs} jobs)", flush=True)
            results[contender.label] = row
    return results


def report(results: dict[str, dict[str, float]]) -> None:
    arq_default = results["arq 0.28, defaults"]
    arq_100 = results["arq 0.28, max_jobs=100"]
    bullmq = results[BULLMQ_LABEL]["e2e"] if BULLMQ_LABEL in results else BULLMQ_E2E
    peer = "same run" if BULLMQ_LABEL in results else f"{BULLMQ_E2E // 1000}k, spec"
    print()
    print("| consumer | end to end (jobs/s) | consume only | consumer CPU/job (e2e) | "
          f"e2e vs arq defaults | e2e vs arq max_jobs=100 | e2e vs BullMQ ({peer}) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, row in results.items():
        print(f"| {label} | {row['e2e']:,.0f} | {row['consume']:,.0f} | {row['e2e_cpu_us']:.0f} µs | "
              f"{row['e2e'] / arq_default['e2e']:.1f}x | {row['e2e'] / arq_100['e2e']:.1f}x | "
              f"{row['e2e'] / bullmq:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs per run for ours and bare")
    parser.add_argument("--arq-jobs", type=int, default=2_000,
                        help="jobs per run for arq's defaults (twice this with max_jobs=100): it is slow")
    parser.add_argument("--rounds", type=int, default=1, help="runs per case (median)")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning"))
    parser.add_argument("--only", nargs="*", help="run the contenders whose label has one of these words")
    parser.add_argument("--child", choices=("ours", "arq", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--ready", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    import uvloop

    results = uvloop.run(bench(args))
    if args.only:
        return
    report(results)
    out = ROOT / "bench" / "results" / "queue_bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "results": results}, indent=2))


if __name__ == "__main__":
    with nothing_left_behind():
        main()
