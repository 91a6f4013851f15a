"""Against the real service: /readyz reads 503 while a worker drains, request
ids are unique across the API workers, and a job's log lines carry the id of
the request that enqueued it."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import IMAGES, private_redis

from .conftest import Service


def get(service: Service, path: str, headers: dict[str, str] | None = None,
        body: bytes | None = None, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """One request over a connection of its own."""
    conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.headers), resp.read()
    finally:
        conn.close()


def unread_bytes_at(port: int) -> int:
    """Bytes waiting in the receive queues of the established connections
    whose local port is `port` (what a stopped server has not read)."""
    total = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            local, state, queues = fields[1], fields[3], fields[4]
            if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:
                total += int(queues.split(":")[1], 16)
    return total


def response_of(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_readyz_reads_503_on_a_connection_the_draining_worker_still_serves(start_service, tmp_path):
    """A /readyz in flight when the stop begins (held: its Redis does not
    answer, SIGSTOPped) is answered 503 once the worker drains, not 200,
    though Redis answers by then: the balancer hears of the stop from the
    worker that is stopping, over the connection it already has."""
    folder = tmp_path / "redis"
    folder.mkdir()
    with private_redis(folder) as (redis_url, redis):
        redis_port = urlsplit(redis_url).port
        assert redis_port is not None
        service = start_service(API_WORKERS="1", REDIS_URL=redis_url, READINESS_TIMEOUT="60").ready()
        idle = socket.create_connection(("127.0.0.1", service.port), timeout=60)
        held = socket.create_connection(("127.0.0.1", service.port), timeout=60)
        try:
            # A keep-alive connection left idle: closed by the worker when its drain is under way.
            idle.sendall(b"GET /livez HTTP/1.1\r\nHost: test\r\n\r\n")
            assert idle.recv(65536).startswith(b"HTTP/1.1 200")
            os.kill(redis.pid, signal.SIGSTOP)
            try:
                held.sendall(b"GET /readyz HTTP/1.1\r\nHost: test\r\nX-Request-Id: held-readyz\r\n\r\n")
                deadline = time.monotonic() + 30
                while not unread_bytes_at(redis_port):  # the worker's PING waits in the stopped server
                    assert time.monotonic() < deadline, "the /readyz never reached Redis"
                    time.sleep(0.02)
                service.signal(signal.SIGTERM)
                assert response_of(idle) == b""  # the drain is under way
            finally:
                os.kill(redis.pid, signal.SIGCONT)
            answer = response_of(held)
        finally:
            idle.close()
            held.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503"), answer
        assert b"Connection: close" in head
        assert json.loads(body) == {"draining": True}
        assert service.wait_exit() == 0
    line = next(e for e in service.named("request") if e.get("request_id") == "held-readyz")
    assert (line["route"], line["status"]) == ("/readyz", 503)


def test_made_request_ids_are_unique_across_the_api_workers(start_service):
    """The workers are forked from one master: each makes its own ids' prefix."""
    service = start_service(API_WORKERS="2").ready()
    ids = []
    deadline = time.monotonic() + 60
    while len(ids) < 60 or len(workers_that_answered(service, ids)) < 2:
        assert time.monotonic() < deadline, "one worker answered every request"
        status, headers, _ = get(service, "/livez")
        assert status == 200
        ids.append(headers["X-Request-Id"])
    assert len(set(ids)) == len(ids)
    assert len({request_id[:16] for request_id in ids}) == 2  # a prefix per process


def workers_that_answered(service: Service, ids: list[str]) -> set[int]:
    wanted = set(ids)
    return {e["worker"] for e in service.named("request") if e.get("request_id") in wanted}


@pytest.mark.parametrize("given", [None, "upload-by-test-42"])
def test_a_thumbnail_jobs_lines_carry_the_id_of_the_upload_request(start_service, given):
    service = start_service(API_WORKERS="1", JOB_WORKERS="1").ready()
    email = f"ids{time.monotonic_ns()}@example.com"
    status, _, _ = get(service, "/users", {"Content-Type": "application/json"},
                       json.dumps({"email": email, "password": "pw"}).encode(), method="POST")
    assert status == 201
    basic = base64.b64encode(f"{email}:pw".encode()).decode()
    status, _, body = get(service, "/connect", {"Authorization": f"Basic {basic}"})
    assert status == 200
    token = json.loads(body)["token"]
    image = base64.b64encode((IMAGES / "hopper.jpg").read_bytes()).decode()
    headers = {"Content-Type": "application/json", "X-Token": token, **({"X-Request-Id": given} if given else {})}
    status, answer_headers, body = get(service, "/files", headers, json.dumps(
        {"name": "hopper.jpg", "type": "image", "data": image}).encode(), method="POST")
    assert status == 201, body
    request_id = answer_headers["X-Request-Id"]
    if given:
        assert request_id == given
    done = service.wait_for("job.done", 30, where=lambda e: e.get("request_id") == request_id)
    assert (done["kind"], done["role"]) == ("thumbnails", "job")
    start = service.wait_for("job.start", 5, where=lambda e: e.get("request_id") == request_id)
    assert start["job_id"] == done["job_id"]
    upload = service.wait_for("request", 5, where=lambda e: e.get("request_id") == request_id)
    assert (upload["route"], upload["status"], upload["user_id"]) == ("/files", 201, json.loads(body)["userId"])
