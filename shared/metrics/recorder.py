"""Counters and histograms for the request path, written straight to this
process's multiprocess files, in the very entries prometheus_client writes.

prometheus_client's own Counter.inc and Histogram.observe take a lock and a
getpid() syscall per value touched, so counting a request and its duration
cost about 6 us, 4 % of an authenticated GET /files/:id. Here a request costs
three 8-byte writes into the mmapped file, at positions found once per series
(about 1 us): each process makes its recorder after it was forked and only
ever touches it from its event loop, so neither the lock nor the pid check
buys anything. An entry's timestamp stays 0, as prometheus_client leaves a
counter's or a histogram's.

A process records either through this module or through prometheus_client's
metrics, never both: two writers of `counter_<pid>.db` would each keep their
own idea of its length. The children (API and job workers) use this one; the
master, prometheus_client's (supervision.py).

The files' format is prometheus_client's, and the entries are placed by its
MmapedDict (whose private `_positions` and `_m` say where and in which mapping
to write: pinned; tests/test_library_internals.py checks that the entries are
the ones its Counter and Histogram write)."""

from __future__ import annotations

import os
import struct
from bisect import bisect_left
from collections.abc import Sequence
from pathlib import Path

from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.utils import floatToGoString

INF = float("inf")
_DOUBLE = struct.Struct("d").pack

_files: ProcessFiles | None = None


def process_files(directory: Path) -> ProcessFiles:
    """This process's files (opened once per process: one writer per file)."""
    global _files
    if _files is None or (_files.pid, _files.directory) != (os.getpid(), directory):
        _files = ProcessFiles(directory)
    return _files


class ProcessFiles:
    """This process's counter and histogram files in the metrics directory."""

    def __init__(self, directory: Path) -> None:
        self.pid = pid = os.getpid()
        self.directory = directory
        self.counters = MmapedDict(str(directory / f"counter_{pid}.db"))
        self.histograms = MmapedDict(str(directory / f"histogram_{pid}.db"))

    def counter(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> Counter:
        return Counter(self.counters, name, documentation, tuple(labelnames))

    def histogram(self, name: str, documentation: str, labelnames: Sequence[str],
                  buckets: Sequence[float]) -> Histogram:
        return Histogram(self.histograms, name, documentation, tuple(labelnames), buckets)


def _slot(file: MmapedDict, key: str) -> tuple[int, float]:
    """Where `key`'s value is in `file` (written now, as 0, if new: the series
    shows from 0), and that value."""
    value = file.read_value(key)[0]
    return file._positions[key], value


class CounterValue:
    """One labelled series of a counter."""

    __slots__ = ("_at", "_file", "value")

    def __init__(self, file: MmapedDict, key: str) -> None:
        self._file = file
        self._at, self.value = _slot(file, key)

    def inc(self, amount: float = 1.0) -> None:
        self.value = value = self.value + amount
        at = self._at
        self._file._m[at:at + 8] = _DOUBLE(value)  # the mapping of now: it is replaced when the file grows


class Counter:
    def __init__(self, file: MmapedDict, name: str, documentation: str, labelnames: tuple[str, ...]) -> None:
        self._file = file
        self._family = name.removesuffix("_total")  # as prometheus_client names a counter's family
        self._documentation = documentation
        self._labelnames = labelnames

    def labels(self, *values: str) -> CounterValue:
        assert len(values) == len(self._labelnames)
        key = mmap_key(self._family, f"{self._family}_total", list(self._labelnames), list(values),
                       self._documentation)
        return CounterValue(self._file, key)


class HistogramValue:
    """One labelled series of a histogram: its buckets (each counting the
    observations up to its bound and above the one before, as prometheus_client
    stores them) and its sum."""

    __slots__ = ("_bounds", "_buckets_at", "_counts", "_file", "_sum", "_sum_at")

    def __init__(self, file: MmapedDict, bounds: tuple[float, ...], bucket_keys: list[str], sum_key: str) -> None:
        self._file = file
        self._bounds = bounds
        self._sum_at, self._sum = _slot(file, sum_key)
        slots = [_slot(file, key) for key in bucket_keys]
        self._buckets_at = [at for at, _ in slots]
        self._counts = [count for _, count in slots]

    def observe(self, amount: float) -> None:
        index = bisect_left(self._bounds, amount)  # the first bound >= amount (the last is +Inf)
        count = self._counts[index] = self._counts[index] + 1
        self._sum = total = self._sum + amount
        mapping = self._file._m
        at = self._buckets_at[index]
        mapping[at:at + 8] = _DOUBLE(count)
        at = self._sum_at
        mapping[at:at + 8] = _DOUBLE(total)


class Histogram:
    def __init__(self, file: MmapedDict, name: str, documentation: str, labelnames: tuple[str, ...],
                 buckets: Sequence[float]) -> None:
        bounds = tuple(float(b) for b in buckets)
        if not bounds or bounds[-1] != INF:
            bounds += (INF,)
        assert list(bounds) == sorted(bounds)
        self._file = file
        self._name = name
        self._documentation = documentation
        self._labelnames = labelnames
        self._bounds = bounds

    def labels(self, *values: str) -> HistogramValue:
        assert len(values) == len(self._labelnames)
        names, labels = list(self._labelnames), list(values)
        bucket_keys = [mmap_key(self._name, f"{self._name}_bucket", [*names, "le"], [*labels, floatToGoString(b)],
                                self._documentation) for b in self._bounds]
        sum_key = mmap_key(self._name, f"{self._name}_sum", names, labels, self._documentation)
        return HistogramValue(self._file, self._bounds, bucket_keys, sum_key)
