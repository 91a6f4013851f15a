"""shared/metrics/store.py on real multiprocess files (written by real
processes): a dead process's figures are folded into the archive exactly once,
its gauges go, and a scrape in progress holds the fold off."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.metrics import supervision
from shared.metrics.exposition import render
from shared.metrics.store import try_archive

from .conftest import parse


def figures(directory: Path, count: int) -> int:
    """A process that counted `count` requests and exited: its pid."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    done = subprocess.run([sys.executable, "-m", "tests.metrics.processes_with_figures", str(count)], env=env,
                          check=True, capture_output=True, text=True)
    return int(done.stdout)


def totals(directory: Path) -> dict[tuple[str, tuple], float]:
    """What a scrape of `directory` shows."""
    return {(name, tuple(sorted(labels))): value
            for (name, labels), value in parse(render(directory, None).decode()).items()}


def test_dead_processes_are_folded_into_the_archive_once(tmp_path: Path):
    first, second, third = figures(tmp_path, 3), figures(tmp_path, 5), figures(tmp_path, 2)
    before = totals(tmp_path)
    route = (("route", "/files/{id}"),)
    assert before[("test_requests_total", route)] == 10
    assert try_archive(tmp_path, first) and try_archive(tmp_path, second)
    assert not list(tmp_path.glob(f"*_{first}.db")) and not list(tmp_path.glob(f"*_{second}.db"))
    after = totals(tmp_path)
    assert after[("test_requests_total", route)] == 10
    assert after[("test_duration_seconds_count", route)] == 10
    assert after[("test_duration_seconds_bucket", (("le", "0.05"), *route))] == 10
    assert after[("test_duration_seconds_bucket", (("le", "0.01"), *route))] == 0
    # The live gauge of the folded processes is gone; the third's stays.
    assert {labels for name, labels in after if name == "test_alive"} == {(("pid", str(third)),)}
    assert try_archive(tmp_path, first)  # once more: nothing left of it, nothing added
    assert totals(tmp_path)[("test_requests_total", route)] == 10


@pytest.fixture
def scrape_in_progress(tmp_path: Path):
    """Another process holding the directory as a scrape does, until the test lets go."""
    holder = subprocess.Popen([sys.executable, "-m", "tests.metrics.hold_the_directory", str(tmp_path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"

    def release() -> None:
        if holder.poll() is None:
            assert holder.stdin is not None
            holder.stdin.write("\n")
            holder.stdin.flush()
            holder.wait(30)

    yield release
    release()


def test_a_scrape_in_progress_holds_the_fold_off(tmp_path: Path, scrape_in_progress):
    pid = figures(tmp_path, 4)
    assert not try_archive(tmp_path, pid)
    assert (tmp_path / f"counter_{pid}.db").exists() and not (tmp_path / "counter_archive.db").exists()
    scrape_in_progress()
    assert try_archive(tmp_path, pid)
    assert totals(tmp_path)[("test_requests_total", (("route", "/files/{id}"),))] == 4


async def test_the_master_folds_a_dead_child_once_the_scrape_is_over(tmp_path: Path, scrape_in_progress,
                                                                     monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    pid = figures(tmp_path, 4)
    supervision.child_exited(pid)  # on the loop, as the master's SIGCHLD handler: it must not block
    assert (tmp_path / f"counter_{pid}.db").exists()
    await asyncio.to_thread(scrape_in_progress)
    deadline = asyncio.get_running_loop().time() + 30
    while (tmp_path / f"counter_{pid}.db").exists():
        assert asyncio.get_running_loop().time() < deadline, "the fold never happened"
        await asyncio.sleep(0.01)
    assert totals(tmp_path)[("test_requests_total", (("route", "/files/{id}"),))] == 4


def test_the_text_is_prometheus_client_s_sums(tmp_path: Path):
    """The scrape's own summing (shared/metrics/text.py) says what prometheus_client's collector says,
    label values any client could send included."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    from shared.metrics.recorder import process_files

    figures(tmp_path, 3)
    files = process_files(tmp_path)
    requests = files.counter("test_requests_total", "Requests", ["route"])
    durations = files.histogram("test_duration_seconds", "Durations", ["route"], (0.01, 0.05))
    for route in ("/files/{id}", 'a "quoted" \\ back\nslash', "é ü ☃"):
        requests.labels(route).inc(2)
        durations.labels(route).observe(0.007)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, str(tmp_path))
    theirs = parse(generate_latest(registry).decode())
    ours = parse(render(tmp_path, None).decode())
    assert {key: value for key, value in ours.items() if key[0].startswith("test_")} == theirs
    assert theirs[("test_requests_total", frozenset({("route", "/files/{id}")}))] == 5
