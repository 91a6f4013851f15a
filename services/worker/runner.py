"""One job, from its handler to its end: done (acked with the next batch),
retried later with backoff, or dead-lettered with its error.

A handler finishes (done), raises `JobRejected` (permanent: dead letters at
once) or raises anything else (transient: retried until `max_attempts`).
A job delivered more often than `max_attempts` without finishing (its worker
died each time: a poison pill) goes to the dead letters without running."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from shared.config import WorkerSettings
from shared.jobs import Job

from .acker import Acker
from .control import REDIS_DOWN
from .handlers import Handler, JobRejected
from .settle import Settler


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
        attempt = job.attempts + 1
        if job.attempts + deliveries > self._settings.max_attempts:
            error = (f"Stalled: delivered {deliveries} times without finishing "
                     "(its worker died or was stopped each time)")
            await self._fail(stream, entry_id, job, error, permanent=True, exc=None)
            return
        log = self._job_log
        log.info("job.start", job_id=entry_id, kind=kind, attempt=attempt)
        started = time.perf_counter()
        try:
            await self._handlers[stream](job)
        except JobRejected as exc:
            await self._fail(stream, entry_id, job, str(exc), permanent=True, exc=None)
        except asyncio.CancelledError:
            # Past the stop deadline: leave the entry pending for the next consumer.
            self._acker.release(stream, entry_id)
            self._counts["abandoned"] += 1
            self._log.warning("job.abandoned", job_id=entry_id, kind=kind)
            raise
        except Exception as exc:  # noqa: BLE001 - contained: this job is retried, the worker goes on
            error = f"{type(exc).__name__}: {exc}"
            await self._fail(stream, entry_id, job, error, permanent=False, exc=exc)
        else:
            self._counts["done"] += 1
            log.info("job.done", job_id=entry_id, kind=kind, attempt=attempt,
                     duration_ms=round((time.perf_counter() - started) * 1000, 3))
            self._acker.ack(stream, entry_id)

    async def _fail(self, stream: str, entry_id: str, job: Job, error: str, *,
                    permanent: bool, exc: BaseException | None) -> None:
        w = self._settings
        attempt = job.attempts + 1
        common = {"job_id": entry_id, "kind": job.kind, "attempt": attempt, "error": error}
        try:
            if permanent or attempt >= w.max_attempts:
                settled = await self._settler.dead(stream, entry_id, job, error)
                self._counts["dead"] += 1
                self._log.error("job.dead", **common, settled=settled, exc_info=exc)
            else:
                delay = min(w.retry_base_delay * 2 ** (attempt - 1), w.retry_max_delay)
                settled = await self._settler.retry(stream, entry_id, job, delay)
                self._counts["retried"] += 1
                self._log.warning("job.retry", **common, delay=delay, settled=settled, exc_info=exc)
                self._retry_scheduled()
        except REDIS_DOWN as redis_exc:
            # Not settled: the entry stays pending and is claimed again later.
            self._log.error("job.settle_failed", **common, redis_error=str(redis_exc), exc_info=exc)
        finally:
            self._acker.release(stream, entry_id)
