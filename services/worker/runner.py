"""One job, from its handler to its end: done (acked with the next batch),
retried later with backoff, or dead-lettered with its error.

A handler finishes (done), raises `JobSkipped` (nothing to do: done too),
`JobRejected` (permanent: dead letters at once) or raises anything else
(transient: retried until `max_attempts`). A job delivered more often than
`max_attempts` without finishing (its worker died each time: a poison pill)
goes to the dead letters without running.

A failure that is the machine's state rather than the job's (the disk full,
the database or Redis unreachable: see `machine_trouble`) is retried without
counting against `max_attempts`, with the same doubling backoff up to
`retry_max_delay`, for as long as it lasts: the thumbnails come once space is
freed, instead of a dead letter 15 s into an outage."""

from __future__ import annotations

import asyncio
import errno
import time
from collections.abc import Callable, Mapping
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.config import WorkerSettings
from shared.errors import StorageFull, StorageUnavailable
from shared.jobs import Job
from shared.logging import REQUEST_ID

from .acker import Acker
from .control import REDIS_DOWN
from .handlers import Handler, JobRejected, JobSkipped
from .metrics import record_job
from .settle import Settler

_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def machine_trouble(exc: BaseException) -> str | None:
    """Why `exc` is the machine's state and not the job's, or None."""
    if isinstance(exc, StorageFull) or (isinstance(exc, OSError) and exc.errno in _DISK_FULL):
        return "disk full"
    if isinstance(exc, StorageUnavailable):
        return "database unavailable"
    if isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
        return "redis unavailable"
    return None


def _waits(fields: dict) -> int:
    """The retries of this job that did not count (settle.py)."""
    try:
        return int(fields.get(b"waits") or fields.get("waits") or 0)
    except ValueError:
        return 0


class JobRunner:
    def __init__(self, settings: WorkerSettings, handlers: Mapping[str, Handler],
                 kinds: Mapping[str, str], settler: Settler, acker: Acker,
                 counts: dict[str, int], log: Any, job_log: Any,
                 retry_scheduled: Callable[[], None]) -> None:
        """`handlers` and `kinds` by stream; `job_log` takes the two lines of
        every job (buffered), `log` the rest (written at once)."""
        self._settings = settings
        self._handlers = handlers
        self._kinds = kinds
        self._settler = settler
        self._acker = acker
        self._counts = counts
        self._log = log
        self._job_log = job_log
        self._retry_scheduled = retry_scheduled

    async def run(self, stream: str, entry_id: str, fields: dict, deliveries: int) -> None:
        kind = self._kinds[stream]
        job = Job.from_fields(kind, fields)
        # Every line of this job (its own task) names the request that enqueued it.
        REQUEST_ID.set(job.request_id)
        attempt = job.attempts + 1
        if job.attempts + deliveries > self._settings.max_attempts:
            error = (f"Stalled: delivered {deliveries} times without finishing "
                     "(its worker died or was stopped each time)")
            await self._fail(stream, entry_id, job, error, permanent=True, exc=None, ran=None)
            return
        log = self._job_log
        log.info("job.start", job_id=entry_id, kind=kind, attempt=attempt)
        started = time.perf_counter()
        try:
            await self._handlers[stream](job)
        except JobSkipped as exc:
            self._counts["skipped"] += 1
            record_job(kind, "done", time.perf_counter() - started)
            self._log.info("job.skipped", job_id=entry_id, kind=kind, attempt=attempt, reason=str(exc))
            self._acker.ack(stream, entry_id)
        except JobRejected as exc:
            await self._fail(stream, entry_id, job, str(exc), permanent=True, exc=None,
                             ran=time.perf_counter() - started)
        except asyncio.CancelledError:
            # Past the stop deadline: leave the entry pending for the next consumer.
            self._acker.release(stream, entry_id)
            self._counts["abandoned"] += 1
            self._log.warning("job.abandoned", job_id=entry_id, kind=kind)
            raise
        except Exception as exc:  # noqa: BLE001 - contained: this job is retried, the worker goes on
            error = f"{type(exc).__name__}: {exc}"
            await self._fail(stream, entry_id, job, error, permanent=False, exc=exc, fields=fields,
                             ran=time.perf_counter() - started)
        else:
            self._counts["done"] += 1
            ran = time.perf_counter() - started
            record_job(kind, "done", ran)
            log.info("job.done", job_id=entry_id, kind=kind, attempt=attempt, duration_ms=round(ran * 1000, 3))
            self._acker.ack(stream, entry_id)

    async def _fail(self, stream: str, entry_id: str, job: Job, error: str, *,
                    permanent: bool, exc: BaseException | None, ran: float | None,
                    fields: dict | None = None) -> None:
        """`ran`: seconds the handler ran (None: it did not run)."""
        w = self._settings
        attempt = job.attempts + 1
        reason = None if exc is None else machine_trouble(exc)
        common = {"job_id": entry_id, "kind": job.kind, "attempt": attempt, "error": error}
        try:
            if reason is not None:  # not the job's fault: the attempt does not count
                waits = _waits(fields or {})
                delay = min(w.retry_base_delay * 2 ** waits, w.retry_max_delay)
                settled = await self._settler.retry(stream, entry_id, job, delay, waits=waits + 1)
                self._counts["retried"] += 1
                record_job(job.kind, "retried", ran)
                self._log.warning("job.retry", **common, delay=delay, settled=settled,
                                  counted=False, reason=reason, waits=waits + 1)
                self._retry_scheduled()
            elif permanent or attempt >= w.max_attempts:
                settled = await self._settler.dead(stream, entry_id, job, error)
                self._counts["dead"] += 1
                record_job(job.kind, "dead", ran)
                self._log.error("job.dead", **common, settled=settled, exc_info=exc)
            else:
                delay = min(w.retry_base_delay * 2 ** (attempt - 1), w.retry_max_delay)
                settled = await self._settler.retry(stream, entry_id, job, delay)
                self._counts["retried"] += 1
                record_job(job.kind, "retried", ran)
                self._log.warning("job.retry", **common, delay=delay, settled=settled, exc_info=exc)
                self._retry_scheduled()
        except REDIS_DOWN as redis_exc:
            # Not settled: the entry stays pending and is claimed again later.
            self._log.error("job.settle_failed", **common, redis_error=str(redis_exc), exc_info=exc)
        finally:
            self._acker.release(stream, entry_id)
