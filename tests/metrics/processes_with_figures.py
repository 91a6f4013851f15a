"""A process that records figures in a metrics directory, as a child of the
master does, then exits: `python -m tests.metrics.processes_with_figures N
[recorder]` (PROMETHEUS_MULTIPROC_DIR set) counts N requests and observes N
durations of 0.02 s, through prometheus_client's own metrics (and sets a live
gauge), or through shared/metrics/recorder.py. Used by the tests of
shared/metrics and of the prometheus_client internals they rely on."""

from __future__ import annotations

import os
import sys
from pathlib import Path

BUCKETS = (0.01, 0.05, float("inf"))


def main() -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    assert directory, "run with PROMETHEUS_MULTIPROC_DIR"
    count = int(sys.argv[1])
    if sys.argv[2:] == ["recorder"]:
        from shared.metrics.recorder import process_files

        files = process_files(Path(directory))
        requests = files.counter("test_requests_total", "Requests", ["route"]).labels("/files/{id}")
        durations = files.histogram("test_duration_seconds", "Durations", ["route"], BUCKETS).labels("/files/{id}")
    else:
        from prometheus_client import Counter, Gauge, Histogram

        requests = Counter("test_requests_total", "Requests", ["route"]).labels("/files/{id}")
        durations = Histogram("test_duration_seconds", "Durations", ["route"], buckets=BUCKETS).labels("/files/{id}")
        Gauge("test_alive", "A live gauge", multiprocess_mode="liveall").set(1)
    for _ in range(count):
        requests.inc()
        durations.observe(0.02)
    print(os.getpid(), flush=True)


if __name__ == "__main__":
    main()
