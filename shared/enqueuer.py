"""The Enqueuer: every job of a process reaches its stream through one.

Concurrent enqueues are pipelined: each caller queues its XADD and awaits a
future; one flush sends everything waiting in one write on one connection
(independent XADDs need no MULTI) and answers each caller with its entry id or
its own error. One XADD per caller through the connection pool costs a
checkout and a round trip per job; in one pipeline, 50 callers cost about what
one does.

What a caller is promised is what a lone XADD promised, and the replica:
- it returns only once Redis acknowledged its entry and, when the master has
  replicas, once `WAIT 1 <replica_wait_timeout>` that follows the batch was
  answered (Redis replicates asynchronously: without the WAIT a failover could
  lose an entry the master acknowledged). A WAIT that times out with no replica
  holding the batch still answers the callers (a job lost anyway is found
  again by `fsck`), with a warning (throttled) and a count in `unreplicated`;
- an error reaches exactly the callers it concerns: Redis unreachable fails
  every caller of the batch (the API answers 503; as with a lone XADD whose
  reply was lost, a job may have landed all the same); a refused XADD (say, a
  key of the wrong type) fails only its own caller;
- a caller cancelled while it waits changes nothing for the others; its job is
  sent all the same if it was queued (its request already did the work the
  job follows up on).
Memory is bounded: at most `max_waiting` jobs are queued or in flight; further
callers wait for room (back-pressure, in arrival order).

Whether the master has replicas (INFO replication, connected_slaves) is read
with the first batch, then again with a batch every `REPLICAS_EVERY` seconds,
and before the next batch whenever a WAIT found fewer replicas than expected
or a batch failed, and whenever a batch's connection is to another server
than the count's (after a failover the master is another server, whose
replicas are its own: often none yet).
"""

from __future__ import annotations

import asyncio
import copy
import functools
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from shared.jobs import REQUEST_ID, Job, stream_of
from shared.log_throttle import LogThrottle
from shared.logging import current_request_id, get_logger

REPLICAS_EVERY = 5.0  # seconds between two readings of the master's replica count
MAX_WAITING = 10_000  # jobs queued or in flight per process
MAX_BATCH = 1_000  # XADDs per pipeline

_CLOSED = RedisConnectionError("the enqueuer was closed before this job was sent")


class Enqueuer:
    """`await enqueuer.enqueue(job)` -> the entry id; see the module doc.

    `replica_wait_timeout` (seconds, `redis.replica_wait_timeout`): how long a
    batch waits for a replica; 0 never waits (nor asks about replicas). `log`:
    where the warnings go (throttled), the "enqueuer" logger by default.
    `on_unreplicated(jobs)`: told of every batch answered without a replica
    (the services count them for /metrics)."""

    def __init__(self, redis: Redis, replica_wait_timeout: float = 0.0, *,
                 max_waiting: int = MAX_WAITING, max_batch: int = MAX_BATCH, log: Any = None,
                 on_unreplicated: Callable[[int], None] | None = None,
                 replicas_every: float = REPLICAS_EVERY) -> None:
        self._redis = redis
        self._wait_ms = _wait_ms(redis, replica_wait_timeout)
        self._max_batch = max_batch
        self._room = asyncio.Semaphore(max_waiting)
        self._queued: deque[tuple[bytes, asyncio.Future[str]]] = deque()
        self._flushing: asyncio.Task[None] | None = None
        self._replicas: int | None = None  # None: to be read with the next batch
        self._replicas_read_at = 0.0
        self._replicas_of: tuple[object, object] = (None, None)  # the server the count is of
        self._replicas_every = replicas_every
        self._closed = False
        self._pending = 0
        self._warnings = LogThrottle(log if log is not None else get_logger("enqueuer"))
        self._on_unreplicated = on_unreplicated
        self.unreplicated = 0  # jobs answered although no replica acknowledged them in time

    @property
    def pending(self) -> int:
        """Jobs queued or in flight: their callers wait."""
        return self._pending

    async def enqueue(self, job: Job) -> str:
        """Append `job` to its stream, naming the request this runs for (if
        any); the entry id once Redis (and a replica, see the module doc) has
        it. Streams are kept bounded by the worker deleting acknowledged
        entries, never by trimming here (a MAXLEN cap could drop jobs nobody
        has read yet)."""
        if self._closed:
            raise RuntimeError("the enqueuer is closed")
        request_id = current_request_id()
        if request_id is not None and REQUEST_ID not in job.payload:
            job = replace(job, payload={**job.payload, REQUEST_ID: request_id})
        await self._room.acquire()
        self._pending += 1
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._queued.append((_xadd(stream_of(job.kind), job.fields()), future))
        if self._flushing is None:
            # Starts on the next turn of the loop: every caller of this turn joins the batch.
            self._flushing = asyncio.create_task(self._flush(), name="enqueuer flush")
        return await future

    async def _flush(self) -> None:
        """Send batches until nothing is queued; one batch in flight at a time
        (the callers answered meanwhile queue the next)."""
        try:
            while self._queued:
                count = min(len(self._queued), self._max_batch)
                batch = [self._queued.popleft() for _ in range(count)]
                try:
                    await self._send(batch)
                except Exception as exc:  # noqa: BLE001 - handed to every caller of the batch
                    self._replicas = None  # a failover, say: ask the master anew
                    _fail(batch, exc)
                except BaseException:
                    _fail(batch, _CLOSED)
                    raise
                finally:
                    self._release(count)
        finally:
            self._flushing = None
            if self._queued:  # cancelled (closing): nobody will send these
                _fail(list(self._queued), _CLOSED)
                self._release(len(self._queued))
                self._queued.clear()

    def _release(self, count: int) -> None:
        self._pending -= count
        for _ in range(count):
            self._room.release()

    async def _send(self, batch: list[tuple[bytes, asyncio.Future[str]]]) -> None:
        """One write for the batch's XADDs (then WAIT, then INFO when due),
        its replies read in order on one connection of the client's pool."""
        pool = self._redis.connection_pool
        conn = await pool.get_connection()
        server = _server_of(conn)
        if server != self._replicas_of:  # another server (a failover): its replicas are its own
            self._replicas = None
        read_replicas = self._wait_ms > 0 and (
            self._replicas is None or time.monotonic() - self._replicas_read_at > self._replicas_every)
        try:
            if read_replicas and self._replicas is None:  # the first batch: ask before deciding
                await conn.send_packed_command(_INFO_REPLICATION)
                try:
                    self._note_replicas(await conn.read_response(), server)
                except ResponseError as exc:  # INFO renamed away, say: the batch goes on
                    self._note_replicas(exc, server)
                read_replicas = False
            wait = self._wait_ms > 0 and bool(self._replicas)
            payload = [command for command, _ in batch]
            if wait:
                payload.append(_command(b"WAIT", b"1", str(self._wait_ms).encode()))
            if read_replicas:
                payload.append(_INFO_REPLICATION)
            await conn.send_packed_command(payload)
            replies: list[Any] = []
            for _ in payload:
                try:
                    replies.append(await conn.read_response())
                except ResponseError as exc:  # this command's own refusal; the connection goes on
                    replies.append(exc)
        finally:
            await pool.release(conn)  # read_response disconnected it if the reading failed
        if read_replicas:
            self._note_replicas(replies.pop(), server)
        if wait:
            acked = replies.pop()
            if not isinstance(acked, int) or acked < 1:
                self._unreplicated(len(batch), acked)
        for (_, future), reply in zip(batch, replies, strict=True):
            if future.done():  # its caller was cancelled
                continue
            if isinstance(reply, Exception):
                future.set_exception(_own(reply))
            else:
                future.set_result(reply.decode() if isinstance(reply, bytes) else str(reply))

    def _note_replicas(self, info: Any, server: tuple[object, object]) -> None:
        """Keep the replica count of `server` from INFO replication's text; a
        refused INFO counts as none (nothing to wait for that we could know of)."""
        found = _CONNECTED_REPLICAS.search(info) if isinstance(info, bytes) else None
        self._replicas = int(found.group(1)) if found else 0
        self._replicas_of = server
        self._replicas_read_at = time.monotonic()

    def _unreplicated(self, jobs: int, acked: Any) -> None:
        self.unreplicated += jobs
        if self._on_unreplicated is not None:
            self._on_unreplicated(jobs)
        self._replicas = None  # read again before the next batch: gone, or only late?
        self._warnings.warning("enqueue.unreplicated", jobs=jobs, wait_ms=self._wait_ms,
                               answer=acked if isinstance(acked, int) else repr(acked))

    async def aclose(self) -> None:
        """Send what is queued, then refuse new jobs."""
        self._closed = True
        if self._flushing is not None:
            await asyncio.wait({self._flushing})

    async def __aenter__(self) -> Enqueuer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _command(*parts: bytes) -> bytes:
    """A command in Redis's protocol, packed once when queued: redis-py packs
    in Python per argument, the largest cost of an enqueue."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


def _xadd(stream: str, fields: dict[str, str]) -> bytes:
    out = [_xadd_head(stream, len(fields))]
    for name, value in fields.items():
        raw_name, raw_value = name.encode(), value.encode()
        out.append(b"$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(raw_name), raw_name, len(raw_value), raw_value))
    return b"".join(out)


@functools.lru_cache(maxsize=64)
def _xadd_head(stream: str, fields: int) -> bytes:
    """`XADD stream *` of a command with `fields` fields, without them."""
    return _command(b"XADD", stream.encode(), b"*").replace(b"*3\r\n", b"*%d\r\n" % (3 + 2 * fields), 1)


_INFO_REPLICATION = _command(b"INFO", b"replication")
_CONNECTED_REPLICAS = re.compile(rb"^connected_slaves:(\d+)", re.MULTILINE)


def _wait_ms(redis: Redis, timeout: float) -> int:
    """WAIT's timeout in ms: at least 1 when waiting at all (WAIT 0 would wait
    forever), and within the client's socket timeout (a longer WAIT would be
    taken for a dead connection and fail the batch Redis accepted)."""
    if timeout <= 0:
        return 0
    socket_timeout = redis.connection_pool.connection_kwargs.get("socket_timeout")
    if socket_timeout:
        timeout = min(timeout, socket_timeout / 2)
    return max(1, round(timeout * 1000))


def _own(exc: BaseException) -> BaseException:
    """A copy of `exc` for one caller: an exception raised in several tasks
    would gather every task's frames in its one traceback."""
    try:
        mine = copy.copy(exc)
    except Exception:  # noqa: BLE001 - not copyable: shared, then
        return exc
    mine.__cause__ = exc.__cause__
    return mine


def _fail(batch: list[tuple[bytes, asyncio.Future[str]]], exc: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(_own(exc))


def _server_of(conn: Any) -> tuple[object, object]:
    """Where a connection of the pool leads (a Sentinel-managed one: the master
    it found when it connected)."""
    return getattr(conn, "host", None), getattr(conn, "port", None)
