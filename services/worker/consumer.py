"""The job worker: a Redis-Streams consumer-group reader with at-least-once delivery.

`JobWorker` puts the parts together and runs them, each with one job:
- reader.py   XREADGROUP BLOCK COUNT over every stream, never more than the
              free slots; our own pending entries first after a restart;
- slots.py    at most `worker.concurrency` jobs running, the rest waiting in order;
- runner.py   one job: its handler, then done, retried later or dead-lettered;
- acker.py    finished entries XACK+XDEL'd in batches, one MULTI per round trip;
- reaper.py   XAUTOCLAIM of entries silent longer than `worker.claim_idle`;
- mover.py    due retries back to their streams;
- sweeper.py  blobs no file names (an upload killed before its document), at
              start and periodically;
- purger.py   trash past its retention deleted for good, at start and periodically;
- settle.py   how a job ends in Redis, atomically.

Guarantees, and where they come from:
- An entry is acked only after its handler returned, i.e. after its output is
  durable (thumbnails are fsynced and renamed before make_thumbnails returns).
- A worker that dies leaves its entries pending: the reaper of any worker claims
  them after `claim_idle`, and a worker restarted under the same name finishes
  its own pending entries first (XREADGROUP from id 0).
- A job that keeps killing its worker (a poison pill) is not retried forever:
  recovered entries carry their delivery count, and past `max_attempts`
  deliveries the job goes to the dead letters.
- A graceful stop reads nothing more, lets the jobs in hand finish until the
  deadline and leaves the rest pending (unacked) for the next consumer.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import dataclass

from shared.blobs import remove_stale_parts
from shared.config import Settings, cpu_count
from shared.enqueuer import Enqueuer
from shared.jobs import PURGE, THUMBNAILS, WELCOME, stream_of
from shared.logging import flush_logs, get_logger, request_logger
from shared.open_blobs import open_blob_store
from shared.redis_client import open_redis
from shared.storage import open_configured_storage

from .acker import Acker
from .control import REDIS_DOWN, Control
from .handlers import Handler, PurgeHandler, ThumbnailsHandler, WelcomeHandler
from .metrics import record_unreplicated
from .mover import Mover
from .purger import Purger
from .reader import Groups, Reader
from .reaper import Reaper
from .runner import JobRunner
from .settle import Settler
from .slots import Slots
from .sweeper import OrphanSweeper
from .welcome import PrintSender, WelcomeSender


def default_name() -> str:
    """hostname:pid:random, so a restarted worker never takes a dead one's name."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True)
class _Parts:
    acker: Acker
    slots: Slots
    reader: Reader
    reaper: Reaper
    mover: Mover
    sweeper: OrphanSweeper
    purger: Purger


class JobWorker:
    def __init__(
        self,
        settings: Settings,
        *,
        name: str | None = None,
        sender: WelcomeSender | None = None,
        handlers: Mapping[str, Handler] | None = None,
    ) -> None:
        """`handlers` (kind -> async handler) replaces the product's kinds; the
        benchmark uses it to register a no-op kind."""
        self.settings = settings
        self.name = name or default_name()
        self._sender = sender or PrintSender()
        self._given_handlers = handlers
        self.control = Control(get_logger("worker", consumer=self.name),
                               settings.supervisor.graceful_timeout)
        self.control.on_stop(self._stopping)
        self.counts = {"done": 0, "skipped": 0, "retried": 0, "dead": 0, "abandoned": 0}
        self._resources = AsyncExitStack()
        self._parts: _Parts | None = None
        self._fatal: BaseException | None = None

    async def start(self, *, wait_for_redis: bool = False) -> None:
        """Connect, create the groups, clean crash leftovers. `run` then finishes
        this consumer's own pending entries before reading new ones.

        Redis unreachable raises, unless `wait_for_redis`: then it is waited
        out as the running worker waits it out (until stop()). A supervised
        worker waits: the node is running and Redis is between masters (a
        failover) or restarting; exiting would only be restarted into a
        crash loop that takes the whole node down."""
        control = self.control
        control.attach(asyncio.get_running_loop())
        # Concrete bound loggers (the lazy proxy re-binds on every call: ~3 us
        # a line); logging is configured by now. job.start and job.done, two
        # lines a job, go through the shared buffered sink (written within
        # 0.1 s in whole-line chunks, flushed when run() ends): a write(2) per
        # line cost a fifth of the no-op throughput. Everything else (retries,
        # dead letters, lifecycle) is written at once.
        log = control.log = get_logger("worker").bind(consumer=self.name)
        job_log = request_logger("worker").bind(consumer=self.name)
        w = self.settings.worker
        redis = open_redis(self.settings.redis.url)
        self._resources.push_async_callback(redis.aclose)
        enqueuer = Enqueuer(redis, self.settings.redis.replica_wait_timeout, on_unreplicated=record_unreplicated)
        self._resources.push_async_callback(enqueuer.aclose)
        storage = await open_configured_storage(self.settings.storage)
        self._resources.push_async_callback(storage.close)
        blobs = await self._resources.enter_async_context(open_blob_store(self.settings))
        pool = ThreadPoolExecutor(w.cpu_threads or cpu_count(), thread_name_prefix="thumbnails")
        self._resources.callback(pool.shutdown, wait=False, cancel_futures=True)
        handlers = self._given_handlers
        if handlers is None:
            handlers = {
                THUMBNAILS: ThumbnailsHandler(storage, pool, w.max_image_pixels, blobs),
                WELCOME: WelcomeHandler(storage, self._sender),
                PURGE: PurgeHandler(self.settings.storage.folder_path, blobs),
            }
        by_stream = {stream_of(kind): handler for kind, handler in handlers.items()}
        kinds = {stream_of(kind): kind for kind in handlers}
        streams = list(kinds)

        settler = Settler(redis)
        groups = Groups(redis, streams, control)
        acker = Acker(settler, control)
        mover = Mover(settler, streams, control)
        runner = JobRunner(w, by_stream, kinds, settler, acker, self.counts, log, job_log,
                           mover.retry_scheduled)
        slots = Slots(w.concurrency, runner.run, acker, control)
        reader = Reader(redis, self.name, streams, groups, settler, acker, slots, control)
        reaper = Reaper(redis, self.name, kinds, w, groups, reader, acker, slots, control)
        folder = self.settings.storage.folder_path
        sweeper = OrphanSweeper(blobs, storage, redis, w, control)
        purger = Purger(storage, redis, enqueuer, self.settings, control, blobs)
        self._parts = _Parts(acker, slots, reader, reaper, mover, sweeper, purger)

        while True:
            try:
                await reaper.arrive()
                await groups.create()
                break
            except REDIS_DOWN as exc:
                if not wait_for_redis:
                    raise
                await control.redis_trouble("start", exc)
                if control.stopping:
                    return  # stopped before Redis came back: run() has nothing to do
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        removed = await asyncio.to_thread(remove_stale_parts, folder, w.stale_part_age)
        log.info("worker.start", streams=list(kinds.values()),
                 concurrency=w.concurrency, stale_parts_removed=removed)

    async def run(self) -> None:
        """Consume until stop(); return once the jobs in hand are finished (or,
        past the deadline, left pending)."""
        parts = self._parts
        if parts is None:
            raise RuntimeError("start() first")
        acker = asyncio.create_task(parts.acker.run(), name="acker")
        others = [asyncio.create_task(parts.reaper.run(), name="reaper"),
                  asyncio.create_task(parts.mover.run(), name="mover"),
                  asyncio.create_task(parts.sweeper.run(), name="sweeper"),
                  asyncio.create_task(parts.purger.run(), name="purger")]
        for task in (acker, *others):
            task.add_done_callback(self._background_done)
        try:
            await parts.reader.recover_own()
            await parts.reader.consume()
        finally:
            unstarted = await parts.slots.drain()
            self.counts["abandoned"] += unstarted
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
            await parts.acker.finish(acker)
            await parts.reaper.leave()
            flush_logs()
            self.control.log.info("worker.stopped", **self.counts)
        if self._fatal is not None:
            raise self._fatal

    def stop(self, timeout: float | None = None) -> None:
        """Stop reading; jobs in hand get `timeout` seconds (default: the
        graceful timeout). Idempotent (a later call may only shorten the
        deadline) and safe from a signal handler or another thread."""
        self.control.stop(timeout)

    def _stopping(self, first: bool, timeout: float) -> None:
        if first:
            in_hand = len(self._parts.acker.held) if self._parts is not None else 0
            self.control.log.info("worker.stopping", timeout=timeout, in_hand=in_hand)

    async def close(self) -> None:
        """Close clients and pools (idempotent)."""
        await self._resources.aclose()

    def _background_done(self, task: asyncio.Task[None]) -> None:
        """A background loop must not die quietly: its error stops the worker
        and leaves run() (the process then exits 1 and is replaced)."""
        if task.cancelled() or task.exception() is None:
            return
        self._fatal = task.exception()
        self.control.log.error("worker.crashed", task=task.get_name(), exc_info=self._fatal)
        self.stop(0)
