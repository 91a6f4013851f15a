"""A process that records figures in a metrics directory, as a child of the
master does, then exits: `python -m tests.metrics.processes_with_figures N`
(PROMETHEUS_MULTIPROC_DIR set) counts N requests, observes N durations of
0.02 s, and sets a live gauge. Used by the tests of shared/metrics/store.py
and of the prometheus_client internals it relies on."""

from __future__ import annotations

import os
import sys


def main() -> None:
    assert os.environ.get("PROMETHEUS_MULTIPROC_DIR"), "run with PROMETHEUS_MULTIPROC_DIR"
    from prometheus_client import Counter, Gauge, Histogram

    count = int(sys.argv[1])
    requests = Counter("test_requests_total", "Requests", ["route"])
    durations = Histogram("test_duration_seconds", "Durations", ["route"], buckets=(0.01, 0.05, float("inf")))
    alive = Gauge("test_alive", "A live gauge", multiprocess_mode="liveall")
    for _ in range(count):
        requests.labels("/files/{id}").inc()
        durations.labels("/files/{id}").observe(0.02)
    alive.set(1)
    print(os.getpid(), flush=True)


if __name__ == "__main__":
    main()
