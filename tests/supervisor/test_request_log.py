"""A client that hangs up is not an error of ours: no 500, no traceback, one
info request line with status 499 (nginx's "client closed request"); against
the real service (API workers on uvloop, downloads sent with os.sendfile)."""

from __future__ import annotations

import asyncio
import os
import socket

import aiohttp

from .conftest import Service, public_file

SIZE = 16 * 1024 * 1024


def trouble(service: Service) -> list[dict]:
    """Lines that would page someone: errors, tracebacks, 5xx request lines."""
    return [e for e in service.events
            if e.get("level") in ("error", "critical") or "exception" in e or "Traceback" in str(e)
            or (e.get("event") == "request" and e.get("status", 0) >= 500)]


def request_line(service: Service, request_id: str) -> dict:
    line = service.wait_for("request", 10, where=lambda e: e.get("request_id") == request_id)
    assert [e for e in service.named("request") if e.get("request_id") == request_id] == [line]
    return line


async def test_a_client_that_sends_half_a_body_and_closes_is_logged_499_at_info(start_service):
    service = start_service(API_WORKERS="1")
    await asyncio.to_thread(service.ready)
    with socket.create_connection(("127.0.0.1", service.port)) as sock:
        sock.sendall(b"POST /users HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\nX-Request-Id: half-body\r\n\r\n" + b'{"email": "a')
    line = await asyncio.to_thread(request_line, service, "half-body")
    assert (line["level"], line["method"], line["route"], line["status"], line["bytes"]) == \
        ("info", "POST", "/users", 499, 0)
    # The service still serves, and nothing was reported as an error meanwhile.
    async with aiohttp.ClientSession() as session, session.get(f"{service.url}/status") as resp:
        assert resp.status == 200
    assert trouble(service) == []


async def test_a_client_that_hangs_up_mid_download_is_logged_499_at_info(start_service):
    service = start_service(API_WORKERS="1")
    await asyncio.to_thread(service.ready)
    async with aiohttp.ClientSession() as session:
        file_id = await public_file(session, service.url, os.urandom(SIZE))
    with socket.socket() as sock:
        # A small receive buffer and nothing read: the server is still sending
        # when the connection goes (closing with unread data resets it).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", service.port))
        sock.sendall(f"GET /files/{file_id}/data HTTP/1.1\r\nHost: test\r\nX-Request-Id: hang-up\r\n\r\n".encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    line = await asyncio.to_thread(request_line, service, "hang-up")
    assert (line["level"], line["route"], line["status"], line["bytes"]) == ("info", "/files/{id}/data", 499, 0)
    async with aiohttp.ClientSession() as session, session.get(f"{service.url}/status") as resp:
        assert resp.status == 200
    assert trouble(service) == []
