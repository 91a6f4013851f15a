"""The job worker: a Redis-Streams consumer-group reader with at-least-once delivery.

One process runs one `JobWorker`: a read loop (XREADGROUP BLOCK COUNT over every
stream, never more than `worker.concurrency` jobs in hand), an acker (finished
entries XACK+XDEL'd in batches, one MULTI per round trip), a reaper (XAUTOCLAIM
of entries silent longer than `worker.claim_idle`) and a mover (due retries back
to their streams). How a job ends atomically is in `settle.py`.

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
import contextlib
import os
import secrets
import socket
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.blobs import remove_stale_parts
from shared.config import Settings, cpu_count
from shared.jobs import GROUP, THUMBNAILS, WELCOME, Job, stream_of
from shared.logging import flush_logs, get_logger, request_logger
from shared.redis_client import open_redis, text
from shared.storage import Storage, open_storage

from .handlers import Handler, JobRejected, ThumbnailsHandler, WelcomeHandler
from .settle import Settler
from .welcome import PrintSender, WelcomeSender

BLOCK_MS = 500  # a blocked read returns this often, so a stop never waits longer for it
MOVER_MAX_SLEEP = 1.0  # retries scheduled by other workers are moved at most this late
CONSUMER_FORGET_AFTER = 3600.0  # a consumer with nothing pending, silent this long, is removed
_REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


def default_name() -> str:
    """hostname:pid:random, so a restarted worker never takes a dead one's name."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


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
        self.log = get_logger("worker", consumer=self.name)
        self._job_log = self.log
        self.redis: Redis | None = None
        self.storage: Storage | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._settler: Settler | None = None
        self._handlers: dict[str, Handler] = {}  # stream -> handler
        self._kinds: dict[str, str] = {}  # stream -> kind
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task] = set()
        self._in_hand: set[tuple[str, str]] = set()  # read, not yet acked or settled
        self._backlog: deque[tuple[str, str, dict, int]] = deque()
        self._acks: dict[str, list[str]] = {}
        self._claim_cursor: dict[str, str] = {}
        self._stopping = False
        self._deadline: float | None = None
        self._fatal: BaseException | None = None
        self._background: list[asyncio.Task] = []
        self._acker_last = False
        self._reader_acks = False  # the read loop sends the acks with its reads
        self.counts = {"done": 0, "retried": 0, "dead": 0, "abandoned": 0}
        # Created in start(), on the running loop.
        self._wake: asyncio.Event | None = None  # a slot freed, or stop
        self._stop_event: asyncio.Event | None = None
        self._ack_event: asyncio.Event | None = None
        self._mover_event: asyncio.Event | None = None

    # lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Connect, create the groups, clean crash leftovers. `run` then finishes
        this consumer's own pending entries before reading new ones."""
        self._loop = asyncio.get_running_loop()
        # Concrete bound loggers (the lazy proxy re-binds on every call: ~3 us
        # a line); logging is configured by now. job.start and job.done, two
        # lines a job, go through the shared buffered sink (written within
        # 0.1 s in whole-line chunks, flushed when run() ends): a write(2) per
        # line cost a fifth of the no-op throughput. Everything else (retries,
        # dead letters, lifecycle) is written at once.
        self.log = get_logger("worker").bind(consumer=self.name)
        self._job_log = request_logger("worker").bind(consumer=self.name)
        self._wake = asyncio.Event()
        self._stop_event = asyncio.Event()
        self._ack_event = asyncio.Event()
        self._mover_event = asyncio.Event()
        if self._stopping:  # stop() came before start()
            self._stop_event.set()
        w = self.settings.worker
        self.redis = open_redis(self.settings.redis.url)
        self._settler = Settler(self.redis)
        self.storage = await open_storage(self.settings.storage.db_url)
        self._pool = ThreadPoolExecutor(w.cpu_threads or cpu_count(), thread_name_prefix="thumbnails")
        handlers = self._given_handlers
        if handlers is None:
            handlers = {
                THUMBNAILS: ThumbnailsHandler(self.storage, self._pool, w.max_image_pixels),
                WELCOME: WelcomeHandler(self.storage, self._sender),
            }
        for kind, handler in handlers.items():
            stream = stream_of(kind)
            self._handlers[stream] = handler
            self._kinds[stream] = kind
            self._claim_cursor[stream] = "0-0"
        await self._create_groups()
        folder = self.settings.storage.folder_path
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        removed = await asyncio.to_thread(remove_stale_parts, folder, w.stale_part_age)
        self.log.info("worker.start", streams=list(self._kinds.values()),
                      concurrency=w.concurrency, stale_parts_removed=removed)

    async def _create_groups(self) -> None:
        """XGROUP CREATE ... 0 MKSTREAM on every stream; an existing group is fine."""
        for stream in self._handlers:
            try:
                await self.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def _recreate_groups(self, exc: ResponseError) -> None:
        """A stream vanished under us (an operator's DEL or FLUSHALL, a Redis
        restarted without persistence): make the groups again. Any other
        error is not ours to swallow."""
        if "NOGROUP" not in str(exc):
            raise exc
        self.log.warning("worker.group_recreated", error=str(exc))
        await self._create_groups()

    async def run(self) -> None:
        """Consume until stop(); return once the jobs in hand are finished (or,
        past the deadline, left pending)."""
        assert self._stop_event is not None, "start() first"
        self._background = [
            asyncio.create_task(self._acker(), name="acker"),
            asyncio.create_task(self._reaper(), name="reaper"),
            asyncio.create_task(self._mover(), name="mover"),
        ]
        for task in self._background:
            task.add_done_callback(self._background_done)
        try:
            await self._recover_own()
            await self._consume()
        finally:
            await self._drain()
            for task in self._background[1:]:
                task.cancel()
            await asyncio.gather(*self._background[1:], return_exceptions=True)
            await self._finish_acks()
            flush_logs()
            self.log.info("worker.stopped", **self.counts)
        if self._fatal is not None:
            raise self._fatal

    def stop(self, timeout: float | None = None) -> None:
        """Stop reading; jobs in hand get `timeout` seconds (default: the
        graceful timeout). Idempotent (a later call may only shorten the
        deadline) and safe from a signal handler: it only sets flags and wakes
        the loop through its thread-safe self-pipe."""
        if timeout is None:
            timeout = self.settings.supervisor.graceful_timeout
        deadline = time.monotonic() + timeout
        first = not self._stopping
        self._stopping = True
        if self._deadline is None or deadline < self._deadline:
            self._deadline = deadline
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._on_stop, first, timeout)

    def _on_stop(self, first: bool, timeout: float) -> None:
        if first:
            self.log.info("worker.stopping", timeout=timeout, in_hand=len(self._in_hand))
        for event in (self._stop_event, self._wake, self._mover_event):
            if event is not None:
                event.set()

    async def close(self) -> None:
        """Close clients and pools (idempotent)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self.storage is not None:
            await self.storage.close()
            self.storage = None
        if self.redis is not None:
            await self.redis.aclose()
            self.redis = None

    # reading ----------------------------------------------------------------

    def _free(self) -> int:
        return self.settings.worker.concurrency - len(self._tasks)

    async def _wait_wake(self, timeout: float | None = None) -> None:
        assert self._wake is not None
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _recover_own(self) -> None:
        """Finish what this consumer name left pending (a restart under the same
        name). Reading from an explicit id returns our own pending entries."""
        recovered = 0
        for stream in self._handlers:
            cursor = "0"
            while not self._stopping:
                if self._free() <= 0:
                    await self._wait_wake()
                    continue
                reply = await self._retrying(self.redis.xreadgroup, GROUP, self.name,
                                             {stream: cursor}, count=self._free())
                entries = reply[0][1] if reply else []
                if not entries:
                    break
                deliveries = await self._retrying(self._deliveries, stream, [e[0] for e in entries])
                if deliveries is None:
                    break
                for entry_id, fields in entries:
                    entry_id = text(entry_id)
                    recovered += self._take(stream, entry_id, fields, deliveries.get(entry_id, 1))
                cursor = text(entries[-1][0])
        if recovered:
            self.log.info("worker.recovered", jobs=recovered)

    async def _consume(self) -> None:
        try:
            self._reader_acks = True
            await self._consume_loop()
        finally:
            self._reader_acks = False
            self._ack_event.set()  # whatever is left is the acker's

    async def _consume_loop(self) -> None:
        streams = {stream: ">" for stream in self._handlers}
        while not self._stopping:
            self._start_backlog()
            free = self._free()
            if free <= 0 or self._backlog:
                if self._acks:  # no read for now to carry them: the acker sends them
                    self._reader_acks = False
                    self._ack_event.set()
                await self._wait_wake()
                self._reader_acks = True
                continue
            acks, self._acks = self._acks, {}
            try:
                if acks:  # acks ride along with the read (the acker handles the rest)
                    reply = await self._settler.ack(acks, streams, consumer=self.name, count=free)
                    self._acked(acks)
                else:
                    self._reader_acks = False  # blocked: jobs finishing now are acked by the acker
                    try:
                        reply = await self.redis.xreadgroup(GROUP, self.name, streams, count=free,
                                                            block=BLOCK_MS)
                    finally:
                        self._reader_acks = True
            except _REDIS_DOWN as exc:
                self._unsent(acks)
                await self._redis_trouble("read", exc)
                continue
            except ResponseError as exc:
                self._unsent(acks)  # acking twice is harmless
                await self._recreate_groups(exc)
                continue
            for stream, entries in reply or ():
                stream = text(stream)
                for entry_id, fields in entries:
                    self._take(stream, text(entry_id), fields, 1)

    def _take(self, stream: str, entry_id: str, fields: dict, deliveries: int) -> int:
        """Put a read or claimed entry in hand: run it now or when a slot frees."""
        key = (stream, entry_id)
        if key in self._in_hand:
            return 0  # claimed back while we hold it: it is running already
        if not fields:  # deleted from the stream while pending: nothing to run
            self._queue_ack(stream, entry_id)
            self._wake.set()  # the reader may be waiting for a slot: it hands the ack over
            return 0
        self._in_hand.add(key)
        if self._free() > 0 and not self._backlog:
            self._spawn(stream, entry_id, fields, deliveries)
        else:
            # XREADGROUP's COUNT is per stream, so one read can bring more
            # than the free slots: they wait here, in order, in hand.
            self._backlog.append((stream, entry_id, fields, deliveries))
        return 1

    def _start_backlog(self) -> None:
        while self._backlog and self._free() > 0:
            self._spawn(*self._backlog.popleft())

    def _spawn(self, stream: str, entry_id: str, fields: dict, deliveries: int) -> None:
        task = asyncio.create_task(self._run_job(stream, entry_id, fields, deliveries))
        self._tasks.add(task)
        task.add_done_callback(self._job_finished)

    def _job_finished(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        self._wake.set()

    # one job ----------------------------------------------------------------

    async def _run_job(self, stream: str, entry_id: str, fields: dict, deliveries: int) -> None:
        kind = self._kinds[stream]
        job = Job.from_fields(kind, fields)
        w = self.settings.worker
        attempt = job.attempts + 1
        log = self._job_log
        if job.attempts + deliveries > w.max_attempts:
            error = (f"Stalled: delivered {deliveries} times without finishing "
                     "(its worker died or was stopped each time)")
            await self._settle_failure(stream, entry_id, job, error, permanent=True, exc=None)
            return
        log.info("job.start", job_id=entry_id, kind=kind, attempt=attempt)
        started = time.perf_counter()
        try:
            await self._handlers[stream](job)
        except JobRejected as exc:
            await self._settle_failure(stream, entry_id, job, str(exc), permanent=True, exc=None)
        except asyncio.CancelledError:
            # Past the stop deadline: leave the entry pending for the next consumer.
            self._in_hand.discard((stream, entry_id))
            self.counts["abandoned"] += 1
            self.log.warning("job.abandoned", job_id=entry_id, kind=kind)
            raise
        except Exception as exc:  # noqa: BLE001 - contained: this job is retried, the worker goes on
            error = f"{type(exc).__name__}: {exc}"
            await self._settle_failure(stream, entry_id, job, error, permanent=False, exc=exc)
        else:
            self.counts["done"] += 1
            log.info("job.done", job_id=entry_id, kind=kind, attempt=attempt,
                     duration_ms=round((time.perf_counter() - started) * 1000, 3))
            self._queue_ack(stream, entry_id)

    async def _settle_failure(self, stream: str, entry_id: str, job: Job, error: str, *,
                              permanent: bool, exc: BaseException | None) -> None:
        w = self.settings.worker
        attempt = job.attempts + 1
        common = {"job_id": entry_id, "kind": job.kind, "attempt": attempt, "error": error}
        try:
            if permanent or attempt >= w.max_attempts:
                settled = await self._settler.dead(stream, entry_id, job, error)
                self.counts["dead"] += 1
                self.log.error("job.dead", **common, settled=settled, exc_info=exc)
            else:
                delay = min(w.retry_base_delay * 2 ** (attempt - 1), w.retry_max_delay)
                settled = await self._settler.retry(stream, entry_id, job, delay)
                self.counts["retried"] += 1
                self.log.warning("job.retry", **common, delay=delay, settled=settled, exc_info=exc)
                self._mover_event.set()
        except _REDIS_DOWN as redis_exc:
            # Not settled: the entry stays pending and is claimed again later.
            self.log.error("job.settle_failed", **common, redis_error=str(redis_exc), exc_info=exc)
        finally:
            self._in_hand.discard((stream, entry_id))

    # acks ---------------------------------------------------------------------

    def _queue_ack(self, stream: str, entry_id: str) -> None:
        self._acks.setdefault(stream, []).append(entry_id)
        self._ack_event.set()

    async def _acker(self) -> None:
        """Ack finished entries in batches: whatever finished during the previous
        round trip goes in the next one (no timer, so no added latency).
        While the read loop is running and not blocked, it sends the acks
        itself with its next read (`_reader_acks`): a finished job frees a
        slot, which wakes the reader at once. Ends once told to
        (`_acker_last`) and nothing is left to ack."""
        while True:
            await self._ack_event.wait()
            self._ack_event.clear()
            if self._acks and not self._reader_acks:
                await self._flush_acks()
            elif self._acker_last and not self._acks:
                return

    async def _flush_acks(self) -> bool:
        batch, self._acks = self._acks, {}
        try:
            await self._settler.ack(batch)
        except _REDIS_DOWN as exc:
            self._unsent(batch)
            await self._redis_trouble("ack", exc)
            return False
        self._acked(batch)
        return True

    def _acked(self, batch: Mapping[str, list[str]]) -> None:
        for stream, ids in batch.items():
            for entry_id in ids:
                self._in_hand.discard((stream, entry_id))

    def _unsent(self, batch: Mapping[str, list[str]]) -> None:
        """Put acks back for the next round (first, keeping their order)."""
        for stream, ids in batch.items():
            self._acks.setdefault(stream, [])[:0] = ids
        if batch:
            self._ack_event.set()

    async def _finish_acks(self) -> None:
        """Let the acker flush what is left; past the deadline (Redis down),
        give up: those entries stay pending and run again elsewhere."""
        acker = self._background[0]
        self._acker_last = True
        self._ack_event.set()
        remaining = max((self._deadline or time.monotonic()) - time.monotonic(), 1.0)
        try:
            await asyncio.wait_for(asyncio.shield(acker), remaining)
        except TimeoutError:
            acker.cancel()
            self.log.error("worker.acks_unsent", entries=sum(map(len, self._acks.values())))
        except Exception:  # noqa: BLE001 - reported by _background_done already
            pass

    # reaper and mover ---------------------------------------------------------

    async def _reaper(self) -> None:
        """Claim entries whose consumer went silent (died) and run them here."""
        w = self.settings.worker
        # Our own entries are refreshed once idle for a quarter of claim_idle;
        # passes come at least that often, so they are never older than
        # claim_idle / 2 when refreshed, well before anyone may claim them.
        interval = max(0.05, min(w.claim_idle / 4, 5.0))
        min_idle_ms = int(w.claim_idle * 1000)
        refresh_ms = int(w.claim_idle * 250)
        last_cleanup = 0.0
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_event.wait(), interval)
            if self._stopping:
                return
            try:
                for stream in self._handlers:
                    await self._keep_ours(stream, refresh_ms)
                    await self._claim(stream, min_idle_ms)
                if time.monotonic() - last_cleanup > CONSUMER_FORGET_AFTER / 10:
                    last_cleanup = time.monotonic()
                    await self._forget_consumers()
            except _REDIS_DOWN as exc:
                await self._redis_trouble("claim", exc)
            except ResponseError as exc:
                await self._recreate_groups(exc)

    async def _keep_ours(self, stream: str, min_idle_ms: int) -> None:
        """Reset the idle time of the entries we hold (a job slower than
        claim_idle must not look abandoned and run twice). XCLAIM ... JUSTID
        leaves the delivery count alone; the idle threshold keeps us from
        taking back an entry another consumer has just claimed."""
        ids = [entry_id for s, entry_id in self._in_hand if s == stream]
        if ids:
            await self.redis.xclaim(stream, GROUP, self.name, min_idle_ms, ids, justid=True)

    async def _claim(self, stream: str, min_idle_ms: int) -> None:
        """XAUTOCLAIM with the free slots, following the cursor; it goes on
        from where it stopped at the next pass and wraps around at 0-0."""
        claimed = 0
        while not self._stopping:
            free = self._free() - len(self._backlog)
            if free <= 0:
                break
            cursor = self._claim_cursor[stream]
            reply = await self.redis.xautoclaim(stream, GROUP, self.name, min_idle_ms,
                                                cursor, count=free)
            next_cursor, entries = text(reply[0]), reply[1]
            self._claim_cursor[stream] = next_cursor
            # reply[2]: entries deleted meanwhile; Redis already dropped them from the PEL.
            entries = [(text(i), f) for i, f in entries if i is not None]
            if entries:
                deliveries = await self._deliveries(stream, [i for i, _ in entries])
                for entry_id, fields in entries:
                    claimed += self._take(stream, entry_id, fields, deliveries.get(entry_id, 2))
            if next_cursor == "0-0":
                break
        if claimed:
            self.log.warning("worker.claimed", stream=self._kinds[stream], jobs=claimed)

    async def _deliveries(self, stream: str, ids: list) -> dict[str, int]:
        """How many times each of our pending `ids` was delivered (poison-pill guard)."""
        ids = [text(i) for i in ids]
        rows = await self.redis.xpending_range(
            stream, GROUP, min=ids[0], max=ids[-1],
            count=len(ids) + len(self._in_hand) + 16, consumername=self.name)
        return {text(r["message_id"]): int(r["times_delivered"]) for r in rows}

    async def _forget_consumers(self) -> None:
        """Remove consumers of dead processes once they hold nothing (names are
        unique per process, so they would pile up in XINFO otherwise)."""
        for stream in self._handlers:
            for consumer in await self.redis.xinfo_consumers(stream, GROUP):
                name = text(consumer["name"])
                if (name != self.name and consumer["pending"] == 0
                        and consumer["idle"] > CONSUMER_FORGET_AFTER * 1000):
                    await self.redis.xgroup_delconsumer(stream, GROUP, name)

    async def _mover(self) -> None:
        """Put due retries back on their streams, waking for the earliest one."""
        streams = list(self._handlers)
        while not self._stopping:
            self._mover_event.clear()
            try:
                earliest = await self._settler.move_due(streams)
            except _REDIS_DOWN as exc:
                await self._redis_trouble("move", exc)
                continue
            sleep = MOVER_MAX_SLEEP
            if earliest is not None:
                sleep = min(max(earliest - time.time(), 0.005), MOVER_MAX_SLEEP)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._mover_event.wait(), sleep)

    # helpers ------------------------------------------------------------------

    async def _drain(self) -> None:
        """After stop: let the jobs in hand finish until the deadline, then
        cancel the rest (their entries stay pending)."""
        while self._tasks or self._backlog:
            self._start_backlog()
            remaining = (self._deadline or time.monotonic()) - time.monotonic()
            if remaining <= 0:
                break
            await self._wait_wake(remaining)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for stream, entry_id, _fields, _d in self._backlog:
            self._in_hand.discard((stream, entry_id))
            self.counts["abandoned"] += 1
        self._backlog.clear()

    async def _retrying(self, call, *args, **kwargs):
        """`call` until Redis answers; None once stopping."""
        while not self._stopping:
            try:
                return await call(*args, **kwargs)
            except _REDIS_DOWN as exc:
                await self._redis_trouble("recover", exc)
        return None

    async def _redis_trouble(self, what: str, exc: BaseException) -> None:
        """Redis is unreachable: log and wait a little (never a busy loop;
        a stop cuts the wait short, but not to nothing)."""
        self.log.error("worker.redis_error", during=what, error=f"{type(exc).__name__}: {exc}")
        if self._stopping:
            await asyncio.sleep(0.1)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), 0.5)

    def _background_done(self, task: asyncio.Task) -> None:
        """A background loop must not die quietly: its error stops the worker
        and leaves run() (the process then exits 1 and is replaced)."""
        if task.cancelled() or task.exception() is None:
            return
        self._fatal = task.exception()
        self.log.error("worker.crashed", task=task.get_name(), exc_info=self._fatal)
        self.stop(0)
