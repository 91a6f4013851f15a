"""What the job worker counts for /metrics: jobs by kind and outcome, and how
long their handlers ran. On only in a worker of a master that serves metrics
(see services/api/metrics.py for the why); otherwise each hook returns at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared.config import Settings
from shared.metrics.directory import metrics_directory, metrics_wanted

OUTCOMES = ("done", "retried", "dead")
# Seconds: a welcome mail in milliseconds, a large image's thumbnails in seconds.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
                    float("inf"))


class _Recorder:
    def __init__(self, directory: Path) -> None:
        from shared.metrics.recorder import process_files

        files = process_files(directory)
        jobs = files.counter("jobs_total", "Jobs settled, by kind and outcome (done: skipped ones too)",
                             ["kind", "outcome"])
        durations = files.histogram("job_duration_seconds", "Time a job's handler ran, by kind", ["kind"],
                                    DURATION_BUCKETS)
        self.jobs = _Cached(jobs.labels)
        self.unreplicated = files.counter(
            "jobs_unreplicated_total", "Jobs enqueued that no Redis replica held within "
            "redis.replica_wait_timeout (answered all the same)").labels()
        self.durations = _Cached(durations.labels)


class _Cached(dict):
    """Series by their label values, made on first use."""

    def __init__(self, make: Callable[..., Any]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, labels: tuple[str, ...]) -> Any:
        series = self[labels] = self._make(*labels)
        return series


_recorder: _Recorder | None = None


def start_recording(settings: Settings, kinds: tuple[str, ...] = ()) -> bool:
    """In the job worker, at start: whether its jobs are counted (`kinds`
    start at 0 for each outcome, so a first job shows as an increase)."""
    global _recorder
    directory = metrics_directory()
    if directory is None or not metrics_wanted(settings.metrics):
        _recorder = None
        return False
    if _recorder is None:
        _recorder = _Recorder(directory)
    for kind in kinds:
        for outcome in OUTCOMES:
            _recorder.jobs[kind, outcome]  # made now: each series shows from 0
    return True


def record_job(kind: str, outcome: str, seconds: float | None) -> None:
    """A job of `kind` settled with `outcome` after its handler ran `seconds`
    (None: it did not run, e.g. dead-lettered on delivery)."""
    recorder = _recorder
    if recorder is None:
        return
    recorder.jobs[kind, outcome].inc()
    if seconds is not None:
        recorder.durations[kind,].observe(seconds)


def record_unreplicated(jobs: int) -> None:
    """`jobs` were enqueued without a replica acknowledging them in time."""
    if _recorder is not None:
        _recorder.unreplicated.inc(jobs)
