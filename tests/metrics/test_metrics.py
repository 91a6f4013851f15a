"""/metrics of a real `python supervisor.py` with 2 API workers and a job
worker: what it counts, that a child's counts survive its death (once), and
who may read them."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import time
from pathlib import Path

import requests

from tests.conftest import free_port

from .conftest import TOKEN, Metered, get, matching, parse, value, wait_until

IMAGES = Path(__file__).resolve().parents[1] / "images"


def account(url: str) -> dict[str, str]:
    """A new user's token header."""
    email = f"metrics{time.monotonic_ns()}@example.com"
    assert requests.post(f"{url}/users", json={"email": email, "password": "pw"}, timeout=30).status_code == 201
    token = requests.get(f"{url}/connect", auth=(email, "pw"), timeout=30).json()["token"]
    return {"X-Token": token}


def upload(url: str, auth: dict[str, str], content: bytes, name: str = "a.bin", kind: str = "file") -> str:
    body = {"name": name, "type": kind, "data": base64.b64encode(content).decode()}
    resp = requests.post(f"{url}/files", json=body, headers=auth, timeout=30)
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def each_on_its_own_connection(url: str, auth: dict[str, str], count: int) -> None:
    """`count` GET /files/{id} (404: no such file), a connection each, so both workers serve some."""
    for n in range(count):
        resp = requests.get(f"{url}/files/{n:024x}", headers={**auth, "Connection": "close"}, timeout=30)
        assert resp.status_code == 404


def files_gets(samples) -> float:
    return value(samples, "http_requests_total", route="/files/{id}", method="GET", status="404")


def served_by(metered: Metered, index: int, after: int) -> int:
    return sum(1 for e in metered.service.events[after:]
               if e.get("event") == "request" and e.get("worker") == index and e.get("status") == 404
               and e.get("route") == "/files/{id}")


def test_requests_are_counted_by_route_template_method_and_status(metered: Metered):
    auth = account(metered.url)
    file_id = upload(metered.url, auth, b"hello")
    for _ in range(3):
        assert requests.get(f"{metered.url}/files/{file_id}", headers=auth, timeout=30).status_code == 200
    assert requests.get(f"{metered.url}/no/such/{file_id}", timeout=30).status_code == 404
    assert requests.request("PROPFIND", f"{metered.url}/files/{file_id}", timeout=30).status_code == 405

    samples = metered.scrape_main()
    assert value(samples, "http_requests_total", route="/files/{id}", method="GET", status="200") == 3
    assert value(samples, "http_requests_total", route="/files", method="POST", status="201") == 1
    assert value(samples, "http_requests_total", route="/users", method="POST", status="201") == 1
    assert value(samples, "http_requests_total", route="(unmatched)", method="GET", status="404") == 1
    # A method no route has: the route unmatched, the method "other" (a label set clients cannot grow).
    assert value(samples, "http_requests_total", route="(unmatched)", method="other", status="405") == 1
    assert value(samples, "http_request_duration_seconds_count", route="/files/{id}", method="GET") == 3
    buckets = matching(samples, "http_request_duration_seconds_bucket", route="/files/{id}", method="GET")
    assert buckets[frozenset({("route", "/files/{id}"), ("method", "GET"), ("le", "+Inf")})] == 3
    # Never a raw path: no label anywhere holds the file's id.
    assert not [key for (_, key) in samples if any(file_id in v for _, v in key)]
    # The same figures through the master's port.
    assert metered.scrape()[("http_requests_total", frozenset(
        {("route", "/files/{id}"), ("method", "GET"), ("status", "200")}))] == 3


def test_upload_and_download_bytes_add_up_to_what_was_sent(metered: Metered):
    auth = account(metered.url)
    first, second = os.urandom(300_000), os.urandom(123_457)
    file_id = upload(metered.url, auth, first)
    resp = requests.put(f"{metered.url}/v2/files/{file_id}/content", data=second, headers=auth, timeout=30)
    assert resp.status_code == 200, resp.text
    whole = requests.get(f"{metered.url}/files/{file_id}/data", headers=auth, timeout=30)
    assert whole.content == second
    part = requests.get(f"{metered.url}/files/{file_id}/data", headers={**auth, "Range": "bytes=10-19"}, timeout=30)
    assert part.status_code == 206 and part.content == second[10:20]

    samples = metered.scrape()
    assert value(samples, "upload_bytes_total") == len(first) + len(second)
    assert value(samples, "download_bytes_total") == len(second) + 10


def test_a_thumbnail_job_counts_as_done_and_the_queue_is_shown(metered: Metered):
    auth = account(metered.url)
    upload(metered.url, auth, (IMAGES / "flower.jpg").read_bytes(), name="flower.jpg", kind="image")
    samples = metered.until(lambda s: value(s, "jobs_total", kind="thumbnails", outcome="done") == 1,
                            "the thumbnail job counted as done")
    assert value(samples, "job_duration_seconds_count", kind="thumbnails") == 1
    assert value(samples, "jobs_total", kind="thumbnails", outcome="dead") == 0
    assert ("jobs_total", frozenset({("kind", "thumbnails"), ("outcome", "retried")})) in samples  # from 0
    assert ("queue_depth", frozenset({("kind", "thumbnails")})) in samples
    assert ("queue_pending", frozenset({("kind", "thumbnails")})) in samples
    assert value(samples, "queue_dead") == 0


def test_a_killed_worker_s_requests_are_neither_lost_nor_counted_twice(metered: Metered):
    service = metered.service
    auth = account(metered.url)
    mark = service.mark()
    each_on_its_own_connection(metered.url, auth, 30)
    wait_until(lambda: served_by(metered, 1, mark) + served_by(metered, 2, mark) == 30, 30,
               "the request lines")  # written in batches
    index = 1 if served_by(metered, 1, mark) else 2
    served = served_by(metered, index, mark)
    assert served > 0
    before = metered.scrape()
    assert files_gets(before) == 30
    victim = next(e["pid"] for e in reversed(service.named("child.spawn"))
                  if e["kind"] == "api" and e["index"] == index)
    assert value(before, "process_resident_memory_bytes", pid=str(victim), kind="api") > 0
    [directory] = metered.directories()
    assert list(directory.glob(f"*_{victim}.db"))

    mark = service.mark()
    os.kill(victim, signal.SIGKILL)
    service.wait_for("child.exit", where=lambda e: e["pid"] == victim)
    successor = service.wait_for("child.ready", after=mark, where=lambda e: e.get("worker") == index)
    assert successor

    after = metered.scrape()
    assert files_gets(after) == 30  # not lost, not doubled
    assert value(after, "supervisor_restarts_total", kind="api", reason="crash") == 1
    assert value(after, "supervisor_restarts_total", kind="job", reason="crash") == 0
    assert value(after, "supervisor_children", kind="api") == 2
    assert value(after, "supervisor_children", kind="job") == 1
    pids = {dict(key)["pid"] for key in matching(after, "process_resident_memory_bytes")}
    assert str(victim) not in pids and len(pids) == 4  # the master, 2 API workers, a job worker
    assert not list(directory.glob(f"*_{victim}.db")) and (directory / "counter_archive.db").exists()

    each_on_its_own_connection(metered.url, auth, 10)  # the successor counts on from there
    assert files_gets(metered.scrape()) == 40
    assert files_gets(metered.scrape_main()) == 40


def test_a_reload_keeps_the_counts_and_counts_its_restarts(metered: Metered):
    service = metered.service
    auth = account(metered.url)
    each_on_its_own_connection(metered.url, auth, 12)
    assert files_gets(metered.scrape()) == 12
    old = set(service.children())
    mark = service.mark()
    service.signal(signal.SIGHUP)
    service.wait_for("reload.done", after=mark, timeout=60)
    wait_until(lambda: not old & set(service.children()), 60, "the old children to exit")

    samples = metered.scrape()
    assert files_gets(samples) == 12
    assert value(samples, "supervisor_restarts_total", kind="api", reason="reload") == 2
    assert value(samples, "supervisor_restarts_total", kind="job", reason="reload") == 1
    assert value(samples, "supervisor_restarts_total", kind="api", reason="crash") == 0
    pids = {int(dict(key)["pid"]) for key in matching(samples, "process_resident_memory_bytes")}
    assert not pids & old


def test_the_token_guards_the_main_port(metered: Metered):
    url = f"{metered.url}/metrics"
    status, body, headers = get(url)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert get(url, {"Authorization": "Bearer wrong"})[0] == 401
    assert get(url, {"Authorization": f"Bearer {TOKEN}x"})[0] == 401
    assert get(url, {"Authorization": f"Basic {TOKEN}"})[0] == 401
    assert get(url, {"X-Token": TOKEN})[0] == 401
    status, body, headers = get(url, {"Authorization": f"bearer {TOKEN}"})
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "http_requests_total" in body.decode()


def test_without_a_token_the_route_is_not_found_and_the_port_needs_none(start_service, tmp_path):
    port = free_port()
    service = start_service(METRICS_PORT=str(port), TMPDIR=str(tmp_path)).ready(60)
    unknown = get(f"{service.url}/no-such-path")
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": f"Bearer {TOKEN}"}):
        status, body, _ = get(f"{service.url}/metrics", headers)
        assert (status, body) == (unknown[0], unknown[1]) == (404, b'{"error":"Not found"}')
    status, body, _ = get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    assert value(parse(body.decode()), "supervisor_children", kind="api") == 2
    assert get(f"http://127.0.0.1:{port}/other")[0] == 404


def test_off_when_neither_is_set(start_service, tmp_path):
    service = start_service(TMPDIR=str(tmp_path)).ready(60)
    assert get(f"{service.url}/metrics", {"Authorization": "Bearer "})[0] == 404
    assert not list(tmp_path.glob("files-manager-metrics-*"))


def test_the_directory_is_removed_at_exit_and_a_busy_port_fails_the_start(start_service, tmp_path):
    port = free_port()
    service = start_service(METRICS_PORT=str(port), TMPDIR=str(tmp_path)).ready(60)
    [directory] = tmp_path.glob("files-manager-metrics-*")
    taken = free_port()
    with socket_on(taken):
        busy = start_service(PORT=str(free_port()), METRICS_PORT=str(taken), TMPDIR=str(tmp_path))
        assert busy.wait_exit(60) == 3
        assert f"127.0.0.1:{taken} (metrics.port)" in "".join(busy.stderr)
    service.signal(signal.SIGTERM)
    assert service.wait_exit(60) == 0
    assert not directory.exists()
    assert not list(tmp_path.glob("files-manager-metrics-*"))


class socket_on:
    """A listener on 127.0.0.1:port without SO_REUSEPORT (another program)."""

    def __init__(self, port: int) -> None:
        import socket

        self.sock = socket.socket()
        self.port = port

    def __enter__(self) -> None:
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen()

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def test_a_reload_changes_the_token(start_service, tmp_path):
    from shared.config import DEFAULT_CONFIG

    config = tmp_path / "config.toml"
    text = DEFAULT_CONFIG.read_text()
    assert text.count('token = ""') == 1
    config.write_text(text.replace('token = ""', 'token = "first"'))
    service = start_service("--config", str(config), TMPDIR=str(tmp_path)).ready(60)
    url = f"{service.url}/metrics"
    assert get(url, {"Authorization": "Bearer first"})[0] == 200
    config.write_text(text.replace('token = ""', 'token = "second"'))
    old = set(service.children())
    mark = service.mark()
    service.signal(signal.SIGHUP)
    service.wait_for("reload.done", after=mark, timeout=60)
    wait_until(lambda: not old & set(service.children()), 60, "the old children to exit")
    assert get(url, {"Authorization": "Bearer first"})[0] == 401
    assert get(url, {"Authorization": "Bearer second"})[0] == 200


def listening_inodes(port: int) -> set[str]:
    """Inodes of the sockets listening on 127.0.0.1:`port` (/proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == f"0100007F:{port:04X}" and fields[3] == "0A":
            found.add(fields[9])
    return found


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def test_only_the_master_holds_the_metrics_port(metered: Metered):
    [inode] = listening_inodes(metered.metrics_port)
    assert inode in socket_inodes(metered.service.proc.pid)
    children = metered.service.children()
    assert len(children) == 3
    for pid in children:
        assert inode not in socket_inodes(pid), f"child {pid} holds metrics.port"
