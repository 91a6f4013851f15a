"""The text of a scrape: every process's figures (store.collect), the live
processes (processes.py) and the queue's figures, in Prometheus's text format.
CPU work (milliseconds): run it in a thread, never on an event loop."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from .processes import MASTER, live, read_processes
from .store import collect

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # what every Prometheus version reads


@dataclass(frozen=True)
class QueueFigures:
    """What queue_status() said, per kind (see shared/queue_status.py)."""

    streams: dict[str, dict[str, int]]
    dead: int

    @classmethod
    def of(cls, status: dict[str, Any]) -> QueueFigures:
        return cls({kind: dict(row) for kind, row in status["streams"].items()}, int(status["dead_letters"]))


def _process_families(directory: Path) -> list[GaugeMetricFamily]:
    listing = read_processes(directory)
    memory = GaugeMetricFamily("process_resident_memory_bytes", "Resident memory of each process of the node",
                               labels=["pid", "kind"])
    alive: Counter[str] = Counter()
    for pid, kind, rss in live(listing):
        memory.add_metric([str(pid), kind], rss)
        if kind != MASTER:
            alive[kind] += 1
    children = GaugeMetricFamily("supervisor_children", "Children of the master alive now, by kind",
                                 labels=["kind"])
    for kind in sorted(set(listing.get("kinds", [])) | set(alive)):
        children.add_metric([kind], alive[kind])
    return [memory, children]


def _queue_families(queue: QueueFigures) -> list[GaugeMetricFamily]:
    depth = GaugeMetricFamily("queue_depth", "Jobs in the stream: not read yet, or in hand", labels=["kind"])
    pending = GaugeMetricFamily("queue_pending", "Jobs read by a worker and not settled yet", labels=["kind"])
    delayed = GaugeMetricFamily("queue_delayed", "Retries waiting for their time", labels=["kind"])
    for kind, row in sorted(queue.streams.items()):
        depth.add_metric([kind], row["length"])
        pending.add_metric([kind], row["pending"])
        delayed.add_metric([kind], row["delayed"])
    dead = GaugeMetricFamily("queue_dead", "Dead letters (jobs that failed for good)", value=queue.dead)
    return [depth, pending, delayed, dead]


class _Families:
    def __init__(self, families: Iterable[Any]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Any]:
        return self._families


def render(directory: Path, queue: QueueFigures | None) -> bytes:
    """The scrape's text; without queue figures when Redis did not answer."""
    families = [*collect(directory), *_process_families(directory)]
    if queue is not None:
        families += _queue_families(queue)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)
