"""The text of a scrape: every process's figures (store.read), the live
processes (processes.py) and the queue's figures, in Prometheus's text format.
CPU work (milliseconds): run it in a thread, never on an event loop."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4

from .processes import MASTER, live, read_processes
from .store import read
from .text import gauge

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # what every Prometheus version reads


@dataclass(frozen=True)
class QueueFigures:
    """What queue_status() said, per kind (see shared/queue_status.py)."""

    streams: dict[str, dict[str, int]]
    dead: int

    @classmethod
    def of(cls, status: dict[str, Any]) -> QueueFigures:
        return cls({kind: dict(row) for kind, row in status["streams"].items()}, int(status["dead_letters"]))


def _processes(directory: Path) -> str:
    listing = read_processes(directory)
    memory = []
    alive: Counter[str] = Counter()
    for pid, kind, rss in live(listing):
        memory.append(((("pid", str(pid)), ("kind", kind)), float(rss)))
        if kind != MASTER:
            alive[kind] += 1
    kinds = sorted(set(listing.get("kinds", [])) | set(alive))
    return (gauge("process_resident_memory_bytes", "Resident memory of each process of the node", memory)
            + gauge("supervisor_children", "Children of the master alive now, by kind",
                    [((("kind", kind),), float(alive[kind])) for kind in kinds]))


def _queue(queue: QueueFigures) -> str:
    rows = sorted(queue.streams.items())

    def per_kind(field: str) -> list[tuple[tuple[tuple[str, str], ...], float]]:
        return [((("kind", kind),), float(row[field])) for kind, row in rows]

    return (gauge("queue_depth", "Jobs in the stream: not read yet, or in hand", per_kind("length"))
            + gauge("queue_pending", "Jobs read by a worker and not settled yet", per_kind("pending"))
            + gauge("queue_delayed", "Retries waiting for their time", per_kind("delayed"))
            + gauge("queue_dead", "Dead letters (jobs that failed for good)", [((), float(queue.dead))]))


class _Families:
    def __init__(self, families: list[Any]) -> None:
        self._families = families

    def collect(self) -> list[Any]:
        return self._families


def render(directory: Path, queue: QueueFigures | None) -> bytes:
    """The scrape's text; without queue figures when Redis did not answer."""
    summed, others = read(directory)
    parts = [summed.text()]
    if others:
        from prometheus_client import CollectorRegistry, generate_latest

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Families(others))
        parts.append(generate_latest(registry).decode())
    parts.append(_processes(directory))
    if queue is not None:
        parts.append(_queue(queue))
    return "".join(parts).encode()
