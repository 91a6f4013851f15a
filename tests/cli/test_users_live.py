"""The account commands against a running service (`python supervisor.py`
with two API workers): what they change is what every API process answers
from the moment the command returns."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import redis

from shared.tokens import KEY_PREFIX
from tests.conftest import running_supervisor

from .conftest import cli

PASSWORD = "correct horse battery"
REQUESTS = 24  # new connections each, spread over both API workers


def call(url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def basic(email: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{email}:{password}".encode()).decode()}


def statuses(api: str, token: str) -> set[int]:
    """What /users/me (v1) and /v2/users/me answer the token, over many connections."""
    seen = set()
    for number in range(REQUESTS):
        headers = {"X-Token": token} if number % 2 else {"Authorization": f"Bearer {token}"}
        seen.add(call(api + ("/users/me" if number % 2 else "/v2/users/me"), headers=headers)[0])
    return seen


def until_answered(api: str, token: str, expected: set[int]) -> None:
    deadline = time.monotonic() + 60
    while (seen := statuses(api, token)) != expected:
        assert time.monotonic() < deadline, f"{token} still answered {seen}"


def test_a_disabled_user_is_refused_at_once_by_every_api_process(sqlite_env: dict[str, str], tmp_path: Path):
    env = {**sqlite_env, "API_WORKERS": "2", "JOB_WORKERS": "0", "SIGNUP": "closed"}
    api = f"http://127.0.0.1:{env['PORT']}"
    with running_supervisor(env, tmp_path / "service.log"):
        added = cli(env, "users", "add", "ann@example.com", "--password-stdin", "--json", stdin=PASSWORD)
        assert added.code == 0, added.stderr  # sign-up is closed: only the operator adds
        ann_id = added.json()["id"]
        status, v1 = call(api + "/connect", headers=basic("ann@example.com", PASSWORD))
        assert status == 200
        status, v2 = call(api + "/v2/sessions", "POST", {"email": "ann@example.com", "password": PASSWORD})
        assert status == 201
        for token in (v1["token"], v2["token"]):
            assert statuses(api, token) == {200}  # remembered by both workers by now

        done = cli(env, "users", "disable", "ann@example.com")
        assert done.code == 0 and "2 token(s) ended" in done.stdout

        for token in (v1["token"], v2["token"]):
            assert statuses(api, token) == {401}
        # A token the sweep could not know of (written by another tool since): refused
        # too, once each process's user cache (5 s) has let the old record go.
        with redis.Redis.from_url(env["REDIS_URL"]) as client:
            client.set(KEY_PREFIX + "written-by-a-tool", ann_id, ex=3600)
        until_answered(api, "written-by-a-tool", {401})
        # Logins: v1 as for any wrong credentials (its frozen contract), v2 says why,
        # but only to whoever knows the password.
        assert call(api + "/connect", headers=basic("ann@example.com", PASSWORD)) == (401, {"error": "Unauthorized"})
        assert call(api + "/v2/sessions", "POST", {"email": "ann@example.com", "password": PASSWORD}) == (
            401, {"error": "Account disabled", "code": "account_disabled"})
        assert call(api + "/v2/sessions", "POST", {"email": "ann@example.com", "password": "wrong one"}) == (
            401, {"error": "Unauthorized", "code": "unauthorized"})

        assert cli(env, "users", "enable", "ann@example.com").code == 0
        assert statuses(api, v1["token"]) == {401}  # ended for good
        until_answered(api, "written-by-a-tool", {200})  # refused above for being disabled, only
        status, again = call(api + "/v2/sessions", "POST", {"email": "ann@example.com", "password": PASSWORD})
        assert status == 201 and statuses(api, again["token"]) == {200}

        reset = cli(env, "users", "reset-password", "ann@example.com", "--password-stdin", stdin="a new password")
        assert reset.code == 0, reset.stderr
        assert statuses(api, again["token"]) == {401}
        assert call(api + "/connect", headers=basic("ann@example.com", PASSWORD))[0] == 401
        assert call(api + "/connect", headers=basic("ann@example.com", "a new password"))[0] == 200
