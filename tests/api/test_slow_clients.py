"""Slow clients, over raw sockets against `python supervisor.py`: a request head
must arrive whole within server.header_timeout, a body may not stall for
server.body_timeout, an idle keep-alive connection is closed after
server.keepalive_timeout; a slow but steady upload goes through."""

from __future__ import annotations

import base64
import json
import os
import socket
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import running_supervisor, service_env

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.5
KEEPALIVE_TIMEOUT = 5.0
# A connection closed by the header timeout goes well before the keep-alive
# timeout (which alone would close a half-sent head on a fresh connection).
HEADER_BOUND = (HEADER_TIMEOUT * 0.9, KEEPALIVE_TIMEOUT * 0.7)


@dataclass
class Service:
    port: int
    folder: Path
    token: str

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port))
        sock.settimeout(KEEPALIVE_TIMEOUT * 3)  # the deadline of every wait below
        return sock


@pytest.fixture(scope="module")
def service(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("slow")
    env = service_env(folder, redis_server, API_WORKERS="1", JOB_WORKERS="0",
                      HEADER_TIMEOUT=str(HEADER_TIMEOUT), BODY_TIMEOUT=str(BODY_TIMEOUT),
                      KEEPALIVE_TIMEOUT=str(KEEPALIVE_TIMEOUT))
    port = int(env["PORT"])
    url = f"http://127.0.0.1:{port}"
    with running_supervisor(env, folder / "service.log"):
        body = json.dumps({"email": "slow@example.com", "password": "pw"}).encode()
        urllib.request.urlopen(urllib.request.Request(f"{url}/users", data=body, method="POST",
                                                      headers={"Content-Type": "application/json"}))
        basic = base64.b64encode(b"slow@example.com:pw").decode()
        with urllib.request.urlopen(urllib.request.Request(f"{url}/connect",
                                                           headers={"Authorization": f"Basic {basic}"})) as r:
            token = json.loads(r.read())["token"]
        yield Service(port, folder / "files", token)


def closed_after(sock: socket.socket, started: float) -> tuple[float, bytes]:
    """Read until the server closes the connection: (seconds since `started`, bytes read)."""
    got = b""
    try:
        while chunk := sock.recv(65536):
            got += chunk
    except TimeoutError:
        pytest.fail(f"the server did not close the connection; it sent {got[:200]!r}")
    except ConnectionResetError:
        pass
    return time.monotonic() - started, got


def complete_response(sock: socket.socket) -> bytes:
    """One whole response (headers and Content-Length body) from a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_half_sent_head_is_closed_after_the_header_timeout(service):
    with service.connect() as sock:
        started = time.monotonic()
        sock.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n")
        elapsed, got = closed_after(sock, started)
    assert got == b""
    assert HEADER_BOUND[0] <= elapsed < HEADER_BOUND[1]


def test_a_head_trickling_in_is_closed_after_the_header_timeout_all_the_same(service):
    with service.connect() as sock:
        started = time.monotonic()
        sock.sendall(b"GET /status HTTP/1.1\r\n")
        sock.settimeout(0.2)
        elapsed = None
        for i in range(100):  # a header line every 0.2 s, for up to 20 s
            try:
                sock.sendall(f"X-Slow-{i}: yes\r\n".encode())
                if sock.recv(65536) == b"":
                    elapsed = time.monotonic() - started
                    break
            except TimeoutError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                elapsed = time.monotonic() - started
                break
    assert elapsed is not None, "still open after 20 s"
    assert HEADER_BOUND[0] <= elapsed < HEADER_BOUND[1]


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(service):
    with service.connect() as sock:
        elapsed, got = closed_after(sock, time.monotonic())
    assert got == b"" and HEADER_BOUND[0] <= elapsed < HEADER_BOUND[1]


def test_an_idle_keep_alive_connection_is_closed_after_the_keepalive_timeout(service):
    with service.connect() as sock:
        sock.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        assert complete_response(sock).startswith(b"HTTP/1.1 200")
        elapsed, got = closed_after(sock, time.monotonic())
    assert got == b""
    assert KEEPALIVE_TIMEOUT * 0.9 <= elapsed < KEEPALIVE_TIMEOUT * 3


def test_a_half_sent_second_head_on_a_kept_alive_connection_is_closed_after_the_header_timeout(service):
    """The head timer restarts after each request; this fails loudly if aiohttp
    stops running a request's handler and response in a task of their own."""
    with service.connect() as sock:
        for _ in range(2):
            sock.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
            assert complete_response(sock).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        sock.sendall(b"GET /status HTTP/1.1\r\nHo")
        elapsed, got = closed_after(sock, started)
    assert got == b""
    assert HEADER_BOUND[0] <= elapsed < HEADER_BOUND[1]


def upload_head(service: Service, length: int) -> bytes:
    return (f"POST /files HTTP/1.1\r\nHost: x\r\nX-Token: {service.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n").encode()


def test_a_slow_but_steady_upload_is_not_cut(service):
    content = os.urandom(30_000)
    body = json.dumps({"name": "slow.bin", "type": "file", "data": base64.b64encode(content).decode()}).encode()
    pieces = [body[i:i + 2_500] for i in range(0, len(body), 2_500)]  # 16 pieces, 0.25 s apart: 4 s
    with service.connect() as sock:
        sock.sendall(upload_head(service, len(body)))
        for piece in pieces:
            time.sleep(0.25)  # the slow client itself, not a wait for the server
            sock.sendall(piece)
        response = complete_response(sock)
    assert response.startswith(b"HTTP/1.1 201"), response[:300]
    created = json.loads(response.partition(b"\r\n\r\n")[2])
    blobs = [p for p in os.listdir(service.folder) if not p.startswith(".")]
    assert any((service.folder / name).read_bytes() == content for name in blobs), created


def test_a_stalled_body_gets_408_and_leaves_nothing_behind(service):
    before = sorted(os.listdir(service.folder))
    body = json.dumps({"name": "stalled.bin", "type": "file", "data": "A" * 400_000}).encode()
    with service.connect() as sock:
        sock.sendall(upload_head(service, len(body)) + body[:200_000])
        started = time.monotonic()
        elapsed, got = closed_after(sock, started)
    assert got.startswith(b"HTTP/1.1 408"), got[:300]
    assert json.loads(got.partition(b"\r\n\r\n")[2]) == {"error": "Request Timeout"}
    assert elapsed >= BODY_TIMEOUT * 0.9
    assert sorted(os.listdir(service.folder)) == before  # no part file, no blob
