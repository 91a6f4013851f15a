"""Behaviour around the contract: unknown routes, errors, logs."""

from __future__ import annotations

import json

from aiohttp import web

from services.api.app import create_app


async def test_unknown_route_is_a_json_404(client):
    resp = await client.get("/nope")
    assert resp.status == 404
    assert await resp.json() == {"error": "Not found"}


async def test_wrong_method_is_a_json_405(client):
    resp = await client.delete("/status")
    assert resp.status == 405
    assert await resp.json() == {"error": "Method not allowed"}
    assert "GET" in resp.headers["Allow"]


async def test_unexpected_exception_is_a_json_500_logged_once_and_the_process_keeps_serving(
    aiohttp_client, settings, capsys
):
    app = create_app(settings)

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("kaboom")

    app.router.add_get("/boom", boom)
    client = await aiohttp_client(app)
    capsys.readouterr()
    resp = await client.get("/boom")
    assert resp.status == 500
    assert await resp.json() == {"error": "Internal server error"}
    out = capsys.readouterr().out
    assert out.count("RuntimeError: kaboom") == 1
    assert "Traceback" in out
    assert (await client.get("/status")).status == 200


async def test_one_request_line_per_request_with_the_request_id(client, service_output):
    service_output()
    resp = await client.get("/status", headers={"X-Request-Id": "abc-123"})
    assert resp.headers["X-Request-Id"] == "abc-123"
    lines = [line for line in service_output("abc-123").splitlines() if "abc-123" in line]
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["event"] == "request"
    assert event["method"] == "GET" and event["route"] == "/status" and event["status"] == 200
    assert "path" not in event
    assert event["request_id"] == "abc-123"
    assert isinstance(event["duration_ms"], float)


async def test_a_request_id_is_made_when_none_is_given(client):
    resp = await client.get("/status")
    assert len(resp.headers["X-Request-Id"]) == 32

