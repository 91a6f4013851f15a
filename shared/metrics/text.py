"""Summing the processes' counter and histogram files into Prometheus's text
format (0.0.4), faster than prometheus_client's collector and generate_latest.

Those parse every entry's JSON key again at every scrape and build a Sample
per value: about 40 us an entry, 30 ms for a node with a few hundred series.
The keys do not change between scrapes, so each one is parsed once per
process (`_Key`, remembered), and a scrape is then a dict lookup and an
addition per entry, and one formatted line per series.

Gauge and summary files (none of ours write them) go through
prometheus_client's collector, as before."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client.utils import floatToGoString

_CACHE_LIMIT = 200_000  # keys remembered at most (series are bounded; this only guards memory)


@dataclass(frozen=True, slots=True)
class _Key:
    family: str
    sample: str  # the sample's name: family_total, family_sum, family_bucket
    labels: str  # `a="x",b="y"` (sorted, escaped), `le` left out
    documentation: str
    le: float | None  # a histogram bucket's bound


_keys: dict[str, _Key] = {}


def escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def labels_text(labels: Iterable[tuple[str, str]]) -> str:
    return ",".join(f'{name}="{escape(value)}"' for name, value in sorted(labels))


def _key(raw: str) -> _Key:
    key = _keys.get(raw)
    if key is None:
        family, sample, labels, documentation = json.loads(raw)
        le = labels.pop("le", None) if sample.endswith("_bucket") else None
        key = _Key(family, sample, labels_text(labels.items()), documentation, None if le is None else float(le))
        if len(_keys) >= _CACHE_LIMIT:
            _keys.clear()
        _keys[raw] = key
    return key


def _series(name: str, labels: str, value: float) -> str:
    return f"{name}{{{labels}}} {floatToGoString(value)}\n" if labels else f"{name} {floatToGoString(value)}\n"


def _head(name: str, documentation: str, kind: str) -> str:
    text = documentation.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {text}\n# TYPE {name} {kind}\n"


class Summed:
    """Counters and histograms of every process, added up."""

    def __init__(self) -> None:
        self._docs: dict[tuple[str, str], str] = {}  # (family, type) -> documentation
        self._values: dict[str, dict[tuple[str, str], float]] = defaultdict(lambda: defaultdict(float))
        self._buckets: dict[str, dict[str, dict[float, float]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(float)))

    def add(self, kind: str, entries: Iterable[tuple[str, float]]) -> None:
        """`entries` of a `kind` ("counter" or "histogram") file: (raw key, value)."""
        docs, values, buckets = self._docs, self._values, self._buckets
        for raw, value in entries:
            key = _key(raw)
            family = key.family
            if (family, kind) not in docs:
                docs[family, kind] = key.documentation
            if key.le is not None:
                buckets[family][key.labels][key.le] += value
            else:
                values[family][key.sample, key.labels] += value

    def text(self) -> str:
        out: list[str] = []
        for (family, kind), documentation in sorted(self._docs.items()):
            values = self._values.get(family, {})
            if kind == "counter":
                name = f"{family}_total"
                out.append(_head(name, documentation, "counter"))
                out.extend(_series(sample, labels, value) for (sample, labels), value in sorted(values.items()))
                continue
            out.append(_head(family, documentation, "histogram"))
            for labels, bounds in sorted(self._buckets.get(family, {}).items()):
                total = 0.0
                for bound, count in sorted(bounds.items()):
                    total += count
                    le = f'le="{floatToGoString(bound)}"'
                    out.append(_series(f"{family}_bucket", f"{labels},{le}" if labels else le, total))
                out.append(_series(f"{family}_count", labels, total))
                out.append(_series(f"{family}_sum", labels, values.get((f"{family}_sum", labels), 0.0)))
        return "".join(out)


def gauge(name: str, documentation: str, rows: Iterable[tuple[Iterable[tuple[str, str]], float]]) -> str:
    """A gauge family: `rows` of (labels, value)."""
    lines = [_head(name, documentation, "gauge")]
    lines.extend(_series(name, labels_text(labels), value) for labels, value in rows if not math.isnan(value))
    return "".join(lines)
