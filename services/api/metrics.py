"""What the API counts for /metrics: requests by route template, bytes in and out.

Recording is on only in a worker of a master that serves metrics (its
metrics directory exists: shared/metrics/directory.py) and whose settings
still ask for them; otherwise every hook here returns at once. The metrics are
made in the worker (after the fork), on `start_recording`, with
shared/metrics/recorder.py (a few writes to an mmapped file per request).

`record_request` runs for every request: the labelled children are cached per
(route, method, status), a dict lookup instead of prometheus_client's label
handling. Labels stay few whatever clients send: the route is its template,
an unknown method is "other"."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from shared.config import Settings
from shared.logging import get_logger
from shared.metrics.directory import metrics_directory, metrics_wanted

if TYPE_CHECKING:
    from shared.metrics.recorder import CounterValue, HistogramValue

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Seconds: from a cached GET (sub-millisecond) to a large upload.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    float("inf"))


class _Recorder:
    def __init__(self, directory: Path) -> None:
        from shared.metrics.recorder import process_files

        files = process_files(directory)
        self.requests = files.counter(
            "http_requests_total", "HTTP requests answered, by route template, method and status "
            "(499: the client went away first)", ["route", "method", "status"])
        self.durations = files.histogram(
            "http_request_duration_seconds", "Time to answer, by route template and method", ["route", "method"],
            DURATION_BUCKETS)
        self.uploaded = files.counter("upload_bytes_total", "Bytes of file content received from clients").labels()
        self.downloaded = files.counter("download_bytes_total", "Bytes of file content sent to clients").labels()
        self.unreplicated = files.counter(
            "jobs_unreplicated_total", "Jobs enqueued that no Redis replica held within "
            "redis.replica_wait_timeout (answered all the same)").labels()
        # By (route, method as sent, status): no label work per request. aiohttp takes only the
        # methods HTTP knows (a few dozen); those outside METHODS share the label "other".
        self.cache: dict[tuple[str, str, int], tuple[CounterValue, HistogramValue]] = {}

    def series(self, route: str, method: str, status: int) -> tuple[CounterValue, HistogramValue]:
        label = method if method in METHODS else "other"
        series = self.requests.labels(route, label, str(status)), self.durations.labels(route, label)
        self.cache[route, method, status] = series
        return series


_recorder: _Recorder | None = None


def start_recording(settings: Settings) -> bool:
    """In the API worker, at start: whether its requests are counted."""
    global _recorder
    directory = metrics_directory()
    if directory is None or not metrics_wanted(settings.metrics):
        if metrics_wanted(settings.metrics) and _recorder is None:  # turned on by a reload
            get_logger("metrics").warning("metrics.restart_needed",
                                          reason="metrics were off when the service started")
        _recorder = None
    elif _recorder is None:
        _recorder = _Recorder(directory)
    return _recorder is not None


def recording() -> bool:
    return _recorder is not None


def record_request(route: str, method: str, status: int, seconds: float) -> None:
    """One request answered (or abandoned: status 499) after `seconds`."""
    recorder = _recorder
    if recorder is None:
        return
    series = recorder.cache.get((route, method, status)) or recorder.series(route, method, status)
    series[0].inc()
    series[1].observe(seconds)


def record_upload(size: int) -> None:
    """`size` bytes of a file's content came in (counted as they arrive)."""
    if _recorder is not None:
        _recorder.uploaded.inc(size)


def record_download(size: int) -> None:
    """`size` bytes of a file's content went out."""
    if _recorder is not None:
        _recorder.downloaded.inc(size)


def record_unreplicated(jobs: int) -> None:
    """`jobs` were enqueued without a replica acknowledging them in time."""
    if _recorder is not None:
        _recorder.unreplicated.inc(jobs)
