"""Recycling API workers (server.max_requests + jitter, server.max_memory) under
continuous load: no request fails, each successor is ready before its
predecessor is asked to drain, and a recycle is never taken for a crash."""

from __future__ import annotations

import http.client
import shutil
import signal
import threading
from pathlib import Path

from shared.supervision.recycle import MEMORY_MIN_AGE

from .conftest import Service, alive, wait_until


class Load:
    """Client threads sending GET /status back to back until stopped: some over
    one keep-alive connection each (reconnecting when told `Connection: close`),
    some over a fresh connection per request. Every answer but a 200 is kept."""

    def __init__(self, port: int, keep_alive: int = 3, fresh: int = 2) -> None:
        self.port = port
        self.ok = 0
        self.failures: list[object] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(True,), daemon=True)
                         for _ in range(keep_alive)]
        self._threads += [threading.Thread(target=self._run, args=(False,), daemon=True)
                          for _ in range(fresh)]
        for thread in self._threads:
            thread.start()

    def _run(self, keep_alive: bool) -> None:
        conn: http.client.HTTPConnection | None = None
        while not self._stop.is_set():
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                conn.request("GET", "/status", headers={} if keep_alive else {"Connection": "close"})
                resp = conn.getresponse()
                resp.read()
                outcome: object = resp.status
                closing = resp.will_close
            except Exception as exc:  # noqa: BLE001 - every failure is kept for the assertion
                outcome, closing = repr(exc), True
            with self._lock:
                if outcome == 200:
                    self.ok += 1
                else:
                    self.failures.append(outcome)
            if closing or not keep_alive:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)


def recycles_complete(service: Service, per_slot: int) -> bool:
    done = service.named("child.recycled")
    return all(sum(1 for e in done if e["index"] == index) >= per_slot for index in (1, 2))


def assert_each_successor_was_ready_first(service: Service) -> list[dict]:
    """Per child.recycled: the successor's child.ready came before it, and the
    predecessor's exit (clean, expected) after it."""
    events = list(service.events)
    position = {id(e): i for i, e in enumerate(events)}
    recycled = [e for e in events if e.get("event") == "child.recycled"]
    for done in recycled:
        at = position[id(done)]
        ready = [i for i, e in enumerate(events)
                 if e.get("event") == "child.ready" and e.get("pid") == done["successor"]]
        exits = [(i, e) for i, e in enumerate(events)
                 if e.get("event") == "child.exit" and e.get("pid") == done["pid"]]
        asked = [i for i, e in enumerate(events)
                 if e.get("event") == "child.recycle" and e.get("pid") == done["pid"]]
        spawned = [i for i, e in enumerate(events)
                   if e.get("event") == "child.spawn" and e.get("pid") == done["successor"]]
        assert asked and spawned and asked[0] < spawned[0] < ready[0] < at, done
        if exits:  # the last ones may still be draining
            where, exit_event = exits[0]
            assert where > at and exit_event["code"] == 0 and exit_event["expected"] is True, exit_event
    return recycled


def test_max_requests_recycles_every_worker_under_load_and_fails_no_request(start_service):
    service = start_service(MAX_REQUESTS="20", MAX_REQUESTS_JITTER="5").ready()
    first = set(service.children("api"))
    load = Load(service.port)
    try:
        wait_until(lambda: recycles_complete(service, 5) and load.ok >= 2000, 120,
                   "five recycles of each slot and 2000 answers")
    finally:
        load.stop()
    assert load.failures == [], load.failures[:5]
    assert load.ok > 0
    recycled = assert_each_successor_was_ready_first(service)
    assert {e["reason"] for e in recycled} == {"max_requests"}
    assert not first & set(service.children("api"))  # every original worker is gone
    # a recycle is no crash: nothing restarted, the slots keep their number
    assert service.named("child.restart") == []
    assert service.named("child.recycle_failed") == []
    # each worker drew its own threshold in max_requests..+jitter
    due = service.named("child.recycle_due")
    limits = [e["limit"] for e in due]
    assert len(limits) >= 6 and all(20 <= limit <= 25 for limit in limits), limits
    assert len(set(limits)) > 1, limits  # six or more equal draws out of 6 values: about 1 in 8000
    assert all(e["requests"] >= e["limit"] for e in due)
    service.signal(signal.SIGTERM)
    assert service.wait_exit() == 0


def test_max_memory_below_a_fresh_worker_recycles_each_at_most_every_min_age(start_service):
    """1 byte: every worker, a fresh one too, is over the limit. Each slot is
    still replaced only after MEMORY_MIN_AGE seconds of life, never in a loop."""
    service = start_service(MAX_MEMORY="1", CRASH_LIMIT="1").ready()
    load = Load(service.port, keep_alive=1, fresh=1)
    try:
        floor = service.wait_for("recycle.memory_floor", timeout=30)
        assert floor["max_memory"] == 1 and floor["rss"] > 1_000_000
        wait_until(lambda: len(service.named("child.recycled")) >= 3, 120, "three recycles")
    finally:
        load.stop()
    assert load.failures == [], load.failures[:5]
    asked = service.named("child.recycle")
    assert asked and all(e["reason"] == "max_memory" and e["rss"] > 1 for e in asked)
    assert all(e["age_s"] >= MEMORY_MIN_AGE for e in asked), asked
    assert len(service.named("recycle.memory_floor")) == 1
    assert_each_successor_was_ready_first(service)
    assert service.named("child.restart") == [] and service.named("master.crash_loop") == []
    service.signal(signal.SIGTERM)
    assert service.wait_exit() == 0


def test_a_successor_that_cannot_start_leaves_the_old_worker_serving(start_service, sup_env):
    """The blob folder replaced by a plain file: a new worker fails at start-up
    (the old one has its folder open already). The old worker keeps serving
    every request, the slot retries after 1 s, then 2 s, and succeeds once the
    folder is back. CRASH_LIMIT=1: were the failures counted as crashes, two
    would be a crash loop and stop the service."""
    folder = Path(sup_env["FOLDER_PATH"])
    service = start_service(API_WORKERS="1", MAX_REQUESTS="20", CRASH_LIMIT="1").ready()
    [old] = service.children("api")
    aside = folder.with_name(folder.name + ".aside")
    folder.mkdir(parents=True, exist_ok=True)
    folder.rename(aside)
    folder.write_bytes(b"not a folder")
    load = Load(service.port, keep_alive=2, fresh=1)
    try:
        first = service.wait_for("child.recycle_failed", timeout=60)
        second = service.wait_for("child.recycle_failed", timeout=60,
                                  where=lambda e: e["successor"] != first["successor"])
        assert (first["pid"], second["pid"]) == (old, old)
        assert (first["retry_in"], second["retry_in"]) == (1.0, 2.0)
        assert alive(old) and service.children("api") == [old]
        folder.unlink()
        aside.rename(folder)
        done = service.wait_for("child.recycled", timeout=60)
        assert done["pid"] == old
        service.wait_for("child.exit", timeout=30, where=lambda e: e["pid"] == old)
    finally:
        load.stop()
        if folder.is_file():
            folder.unlink()
        if aside.exists():
            shutil.rmtree(folder, ignore_errors=True)
            aside.rename(folder)
    assert load.failures == [], load.failures[:5]
    assert service.named("child.restart") == [] and service.named("master.crash_loop") == []
    assert service.children("api") == [done["successor"]]
    service.signal(signal.SIGTERM)
    assert service.wait_exit() == 0


def test_no_recycling_when_the_limits_are_0(start_service):
    service = start_service(MAX_REQUESTS="0", MAX_MEMORY="0").ready()
    workers = set(service.children("api"))
    load = Load(service.port, keep_alive=2, fresh=1)
    try:
        wait_until(lambda: load.ok >= 500, 120, "500 answers")
    finally:
        load.stop()
    assert load.failures == []
    for name in ("child.recycle", "child.recycle_due", "child.recycled", "recycle.memory_floor"):
        assert service.named(name) == [], name
    assert set(service.children("api")) == workers and all(alive(pid) for pid in workers)
    service.signal(signal.SIGTERM)
    assert service.wait_exit() == 0


def test_a_reload_while_workers_recycle_fails_no_request(start_service):
    """SIGHUP in the middle of continuous recycling: successors of the old
    generation are retired with it, the new generation serves, nothing fails."""
    service = start_service(MAX_REQUESTS="20", MAX_REQUESTS_JITTER="5").ready()
    load = Load(service.port)
    try:
        wait_until(lambda: len(service.named("child.recycled")) >= 2, 60, "two recycles")
        mark = service.mark()
        service.signal(signal.SIGHUP)
        service.wait_for("reload.done", timeout=60, after=mark)
        after = service.mark()
        wait_until(lambda: sum(1 for e in service.events[after:] if e.get("event") == "child.recycled") >= 2,
                   60, "two recycles after the reload")
    finally:
        load.stop()
    assert load.failures == [], load.failures[:5]
    assert service.named("child.restart") == [] and service.named("reload.failed") == []
    spawned = {e["pid"]: e["generation"] for e in service.named("child.spawn")}
    wait_until(lambda: all(spawned[pid] == 2 for pid in service.children("api")), 30,
               "the first generation's exit")  # they drain; none is replaced
    assert len(service.children("api")) >= 2
    assert all(e["generation"] == 2 for e in service.events[after:] if e.get("event") == "child.recycle")
    service.signal(signal.SIGTERM)
    assert service.wait_exit() == 0
