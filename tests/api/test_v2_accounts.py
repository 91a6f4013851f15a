"""v2 accounts (api-v2.md, "Accounts"): sign-up with validation, sessions,
the caller, password change; sign-up closable on v1 and v2; bad input a
clear 400 that changes nothing. Each test runs on sqlite, mongo and the live
service (`client`), except where the settings differ from the defaults."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from datetime import datetime

import pytest
import redis.asyncio as aioredis

from services.api.app import create_app
from services.api.keys import PASSWORDS, SETTINGS, STORAGE
from shared.jobs import stream_of
from shared.storage import NewFile, open_storage

from .conftest import basic
from .test_logout_everywhere import Service, busy_cpus, one_connection_per_worker  # noqa: F401 (a fixture)

RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def epoch(text: str) -> float:
    assert RFC3339_UTC.fullmatch(text), text
    return datetime.fromisoformat(text).timestamp()


async def stats(client) -> dict:
    return await (await client.get("/stats")).json()


async def v2_sign_up(client, email: str = "ann@example.com", password: str = "ann-password", **headers):
    resp = await client.post("/v2/users", json={"email": email, "password": password}, headers=headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def log_in(client, email: str = "ann@example.com", password: str = "ann-password") -> str:
    resp = await client.post("/v2/sessions", json={"email": email, "password": password})
    assert resp.status == 201, await resp.text()
    return (await resp.json())["token"]


async def error_of(resp) -> tuple[int, dict]:
    return resp.status, await resp.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(params=["sqlite", "mongo"])
def in_process(request: pytest.FixtureRequest, settings, aiohttp_client):
    """make(**settings changes) -> a client of an app of its own (for settings
    the shared live service does not have)."""
    base = settings
    if request.param == "mongo":
        base = settings.replace(storage={"db_url": request.getfixturevalue("mongo_db_url")})

    async def make(**changes):
        return await aiohttp_client(create_app(base.replace(**changes)))

    return make


# --- POST /v2/users -------------------------------------------------------------------

async def test_sign_up_answers_the_account_and_enqueues_its_welcome(client, backend_settings):
    before = time.time()
    body = await v2_sign_up(client, "Ann@Example.com")
    assert set(body) == {"id", "email", "createdAt", "quotaBytes", "usedBytes"}
    assert re.fullmatch(r"[0-9a-f]{24}", body["id"])
    assert body["email"] == "Ann@Example.com"
    assert before - 1 <= epoch(body["createdAt"]) <= time.time() + 1
    assert (body["quotaBytes"], body["usedBytes"]) == (None, 0)
    async with aioredis.from_url(backend_settings.redis.url) as r:
        entries = await r.xrange(stream_of("welcome"))
    assert [{k: v for k, v in json.loads(fields[b"data"]).items() if k != "requestId"}
            for _, fields in entries] == [{"userId": body["id"]}]
    # The account is everyone's: v1 logs in with it too.
    resp = await client.get("/connect", headers=basic("ann@example.com", "ann-password"))
    assert resp.status == 200


@pytest.mark.parametrize("email", [
    None, "", 42, True, ["a@b.io"], {"a": "b"}, "plain", "a@b", "@b.io", "a@@b.io", "a@b@c.io", "a@.b.io",
    "a@b.io.", "a@b..io", "a b@c.io", "a@b.io ", " a@b.io", "a\t@b.io", "a\x00@b.io", "é\u2028@b.io",
    "a" * 243 + "@example.com",  # 255 characters
])
async def test_an_email_that_does_not_look_like_one_is_400(client, email):
    resp = await client.post("/v2/users", json={"email": email, "password": "long-enough"})
    assert await error_of(resp) == (400, {"error": "Invalid email", "code": "invalid_email"})
    assert (await stats(client))["users"] == 0


async def test_an_email_of_254_characters_is_taken(client):
    email = "a" * 242 + "@example.com"
    assert len(email) == 254
    assert (await v2_sign_up(client, email))["email"] == email


@pytest.mark.parametrize("password, answer", [
    (None, ("Password too short", "password_too_short")),
    ("", ("Password too short", "password_too_short")),
    ("1234567", ("Password too short", "password_too_short")),
    ("é" * 7, ("Password too short", "password_too_short")),
    ("x" * 1025, ("Password too long", "password_too_long")),
    (12345678, ("Invalid password: expected a string", "invalid")),
    (["12345678"], ("Invalid password: expected a string", "invalid")),
])
async def test_a_password_out_of_8_to_1024_characters_is_400(client, password, answer):
    resp = await client.post("/v2/users", json={"email": "ann@example.com", "password": password})
    assert await error_of(resp) == (400, {"error": answer[0], "code": answer[1]})
    assert (await stats(client))["users"] == 0


@pytest.mark.parametrize("password", ["12345678", "é" * 8, "x" * 1024])
async def test_passwords_of_8_and_1024_characters_are_taken(client, password):
    await v2_sign_up(client, password=password)
    assert await log_in(client, password=password)


async def test_a_taken_email_is_409_in_any_spelling(client):
    await v2_sign_up(client)
    for email in ("ann@example.com", "ANN@example.COM"):
        resp = await client.post("/v2/users", json={"email": email, "password": "other-password"})
        assert await error_of(resp) == (409, {"error": "Already exist", "code": "already_exists"})
    # v1 keeps its 400 for the same thing.
    resp = await client.post("/users", json={"email": "ann@example.com", "password": "x"})
    assert await error_of(resp) == (400, {"error": "Already exist"})
    assert (await stats(client))["users"] == 1


async def test_a_sign_up_failing_to_enqueue_its_welcome_leaves_no_user(client, backend_settings):
    async with aioredis.from_url(backend_settings.redis.url) as r:
        await r.set(stream_of("welcome"), "not a stream")
    resp = await client.post("/v2/users", json={"email": "ann@example.com", "password": "ann-password"})
    assert resp.status == 500
    assert (await stats(client))["users"] == 0


async def test_sign_ups_are_limited_per_address_on_v1_and_v2_together(client):
    for i in range(10):
        await v2_sign_up(client, f"v2-{i}@example.com")
        resp = await client.post("/users", json={"email": f"v1-{i}@example.com", "password": "pw"})
        assert resp.status == 201
    resp = await client.post("/v2/users", json={"email": "late@example.com", "password": "late-password"})
    assert await error_of(resp) == (429, {"error": "Too many attempts", "code": "too_many_attempts"})
    assert 3500 <= int(resp.headers["Retry-After"]) <= 3600
    resp = await client.post("/users", json={"email": "late@example.com", "password": "pw"})
    assert await error_of(resp) == (429, {"error": "Too many attempts"})
    assert (await stats(client))["users"] == 20


async def test_closed_sign_up_is_403_on_v2_and_v1_and_logins_go_on(in_process, settings):
    open_client = await in_process()
    await v2_sign_up(open_client)
    client = await in_process(security={"signup": "closed"})
    resp = await client.post("/v2/users", json={"email": "new@example.com", "password": "new-password"})
    assert await error_of(resp) == (403, {"error": "Sign-up is closed", "code": "signup_closed"})
    # Before anything in the body is read: a malformed body gets the same answer.
    resp = await client.post("/v2/users", data=b"{not json")
    assert await error_of(resp) == (403, {"error": "Sign-up is closed", "code": "signup_closed"})
    resp = await client.post("/users", json={"email": "new@example.com", "password": "pw"})
    assert await error_of(resp) == (403, {"error": "Sign-up is closed"})
    resp = await client.post("/users", json={})
    assert await error_of(resp) == (403, {"error": "Sign-up is closed"})
    assert (await stats(client))["users"] == 1
    async with aioredis.from_url(settings.redis.url) as r:
        assert await r.xlen(stream_of("welcome")) == 1  # the open sign-up's only
    token = await log_in(client)
    assert (await client.get("/v2/users/me", headers=bearer(token))).status == 200
    assert (await client.get("/connect", headers=basic("ann@example.com", "ann-password"))).status == 200


# --- POST /v2/sessions, DELETE /v2/sessions/current ---------------------------------------

async def test_a_session_is_a_token_with_its_expiry(client, backend_settings):
    user = await v2_sign_up(client)
    resp = await client.post("/v2/sessions", json={"email": " ANN@example.com", "password": "ann-password"})
    assert resp.status == 201
    body = await resp.json()
    assert set(body) == {"token", "expiresAt"}
    assert uuid.UUID(body["token"]).version == 4
    ttl = backend_settings.security.token_ttl
    assert abs(epoch(body["expiresAt"]) - (time.time() + ttl)) < 5
    async with aioredis.from_url(backend_settings.redis.url) as r:
        assert (await r.get(f"auth_{body['token']}")).decode() == user["id"]
        assert ttl - 5 <= await r.ttl(f"auth_{body['token']}") <= ttl
    # The same tokens as /connect's: both headers, on v2 and v1 alike.
    for headers in (bearer(body["token"]), {"X-Token": body["token"]},
                    {"Authorization": f"bearer   {body['token']}"}):
        resp = await client.get("/v2/users/me", headers=headers)
        assert (resp.status, (await resp.json())["id"]) == (200, user["id"])
        resp = await client.get("/users/me", headers=headers)
        assert await resp.json() == {"id": user["id"], "email": "ann@example.com"}


async def test_a_token_in_the_url_is_not_a_token(client):
    await v2_sign_up(client)
    token = await log_in(client)
    for path in (f"/v2/users/me?token={token}", f"/v2/users/me?X-Token={token}",
                 f"/v2/users/me?access_token={token}"):
        resp = await client.get(path)
        assert await error_of(resp) == (401, {"error": "Unauthorized", "code": "unauthorized"})


async def test_wrong_credentials_get_one_answer_for_the_same_price(client, backend_settings, request):
    await v2_sign_up(client)
    answers = []
    for email, password in (("ann@example.com", "wrong-password"), ("nobody@example.com", "ann-password"),
                            ("nobody@example.com", "")):
        resp = await client.post("/v2/sessions", json={"email": email, "password": password})
        answers.append(await error_of(resp))
    assert answers == [(401, {"error": "Unauthorized", "code": "unauthorized"})] * 3
    async with aioredis.from_url(backend_settings.redis.url) as r:
        assert await r.keys("auth_*") == []


async def test_an_unknown_email_costs_one_argon2_verification_as_a_wrong_password_does(in_process, monkeypatch):
    """The time a wrong login takes is the argon2 verification's: one, with
    or without an account behind the email (counted in the app's own hasher)."""
    client = await in_process()
    await v2_sign_up(client)
    hasher = client.app[PASSWORDS]
    checks: list[str] = []
    real_check = hasher._check

    def check(stored, password):
        checks.append(stored)
        return real_check(stored, password)

    monkeypatch.setattr(hasher, "_check", check)
    for email in ("ann@example.com", "nobody@example.com"):
        resp = await client.post("/v2/sessions", json={"email": email, "password": "wrong-password"})
        assert resp.status == 401
    assert len(checks) == 2 and all(stored.startswith("$argon2id$") for stored in checks)
    assert checks[0] != checks[1]  # the account's hash, then the dummy


async def test_logging_out_ends_the_token_only(client, backend_settings):
    await v2_sign_up(client)
    token, other = await log_in(client), await log_in(client)
    resp = await client.delete("/v2/sessions/current", headers=bearer(token))
    assert (resp.status, await resp.read()) == (204, b"")
    resp = await client.get("/v2/users/me", headers=bearer(token))
    assert resp.status == 401
    resp = await client.delete("/v2/sessions/current", headers={"X-Token": token})
    assert await error_of(resp) == (401, {"error": "Unauthorized", "code": "unauthorized"})
    assert (await client.get("/v2/users/me", headers=bearer(other))).status == 200
    async with aioredis.from_url(backend_settings.redis.url) as r:
        assert await r.exists(f"auth_{token}") == 0


async def test_failed_logins_on_v2_and_v1_count_together_then_429(client):
    await v2_sign_up(client)
    for _ in range(5):
        resp = await client.post("/v2/sessions", json={"email": "ann@example.com", "password": "wrong-password"})
        assert resp.status == 401
        resp = await client.get("/connect", headers=basic("ANN@example.com", "wrong-password"))
        assert resp.status == 401
    resp = await client.post("/v2/sessions", json={"email": "ann@example.com", "password": "ann-password"})
    assert await error_of(resp) == (429, {"error": "Too many attempts", "code": "too_many_attempts"})
    assert 1 <= int(resp.headers["Retry-After"]) <= 900
    resp = await client.get("/connect", headers=basic("ann@example.com", "ann-password"))
    assert resp.status == 429


# --- GET /v2/users/me -----------------------------------------------------------------------

async def test_me_says_the_quota_and_the_bytes_used_fresh(client, backend_settings):
    user = await v2_sign_up(client)
    token = await log_in(client)
    resp = await client.get("/v2/users/me", headers=bearer(token))
    assert resp.status == 200
    assert await resp.json() == user
    storage = await open_storage(backend_settings.storage.db_url)
    try:
        await storage.create_file(NewFile(user["id"], "a.txt", "file", False, 0, "/nowhere/a", size=5))
        me = await (await client.get("/v2/users/me", headers=bearer(token))).json()
        assert (me["quotaBytes"], me["usedBytes"]) == (None, 5)
        assert await storage.set_quota(user["id"], 1000)
        await storage.create_file(NewFile(user["id"], "b.txt", "file", False, 0, "/nowhere/b", size=7))
    finally:
        await storage.close()
    me = await (await client.get("/v2/users/me", headers=bearer(token))).json()
    assert (me["quotaBytes"], me["usedBytes"]) == (1000, 12)


async def test_the_default_quota_applies_unless_the_user_has_one(in_process):
    client = await in_process(storage={"default_quota": 10_000})
    user = await v2_sign_up(client)
    assert user["quotaBytes"] == 10_000
    token = await log_in(client)
    assert (await (await client.get("/v2/users/me", headers=bearer(token))).json())["quotaBytes"] == 10_000
    assert await client.app[STORAGE].set_quota(user["id"], 500)
    assert (await (await client.get("/v2/users/me", headers=bearer(token))).json())["quotaBytes"] == 500
    assert await client.app[STORAGE].set_quota(user["id"], None)
    assert (await (await client.get("/v2/users/me", headers=bearer(token))).json())["quotaBytes"] == 10_000


async def test_me_needs_a_token(client):
    for headers in ({}, {"X-Token": str(uuid.uuid4())}, bearer(str(uuid.uuid4())), {"Authorization": "Bearer "},
                    basic("ann@example.com", "ann-password")):
        resp = await client.get("/v2/users/me", headers=headers)
        assert await error_of(resp) == (401, {"error": "Unauthorized", "code": "unauthorized"})


# --- PUT /v2/users/me/password ----------------------------------------------------------------

async def change(client, token: str, current: str, new: str):
    return await client.put("/v2/users/me/password", json={"currentPassword": current, "newPassword": new},
                            headers=bearer(token))


async def test_a_password_change_ends_every_other_token_at_once(client, backend_settings):
    user = await v2_sign_up(client)
    keeper, other = await log_in(client), await log_in(client)
    v1_token = (await (await client.get("/connect", headers=basic("ann@example.com", "ann-password"))).json())["token"]
    bob = await v2_sign_up(client, "bob@example.com", "bob-password")
    bobs = await log_in(client, "bob@example.com", "bob-password")
    for token in (keeper, other, v1_token, bobs):  # each remembered by the process that answers
        assert (await client.get("/v2/users/me", headers=bearer(token))).status == 200

    resp = await change(client, keeper, "ann-password", "new-password")
    assert (resp.status, await resp.read()) == (204, b"")
    for token in (other, v1_token):
        resp = await client.get("/v2/users/me", headers=bearer(token))
        assert await error_of(resp) == (401, {"error": "Unauthorized", "code": "unauthorized"})
        assert (await client.get("/users/me", headers={"X-Token": token})).status == 401
    me = await (await client.get("/v2/users/me", headers=bearer(keeper))).json()
    assert me["id"] == user["id"]
    assert (await (await client.get("/v2/users/me", headers=bearer(bobs))).json())["id"] == bob["id"]
    # The new password logs in, the old one no more.
    resp = await client.post("/v2/sessions", json={"email": "ann@example.com", "password": "ann-password"})
    assert resp.status == 401
    assert await log_in(client, password="new-password")
    async with aioredis.from_url(backend_settings.redis.url) as r:
        assert not await r.exists(f"auth_{other}", f"auth_{v1_token}")


async def test_a_wrong_current_password_is_403_and_changes_nothing(client):
    await v2_sign_up(client)
    keeper, other = await log_in(client), await log_in(client)
    resp = await change(client, keeper, "not-the-password", "new-password")
    assert await error_of(resp) == (403, {"error": "Wrong password", "code": "wrong_password"})
    assert (await client.get("/v2/users/me", headers=bearer(other))).status == 200
    assert await log_in(client)


async def test_wrong_current_passwords_count_as_failed_logins(client):
    await v2_sign_up(client)
    keeper = await log_in(client)
    for _ in range(10):
        assert (await change(client, keeper, "not-the-password", "new-password")).status == 403
    resp = await change(client, keeper, "ann-password", "new-password")
    assert await error_of(resp) == (429, {"error": "Too many attempts", "code": "too_many_attempts"})
    assert int(resp.headers["Retry-After"]) >= 1
    resp = await client.post("/v2/sessions", json={"email": "ann@example.com", "password": "ann-password"})
    assert resp.status == 429
    assert (await client.get("/v2/users/me", headers=bearer(keeper))).status == 200  # still logged in


@pytest.mark.parametrize("body, answer", [
    ({"currentPassword": "ann-password", "newPassword": "short"}, ("Password too short", "password_too_short")),
    ({"currentPassword": "ann-password"}, ("Password too short", "password_too_short")),
    ({"currentPassword": "ann-password", "newPassword": "x" * 1025}, ("Password too long", "password_too_long")),
    ({"currentPassword": "ann-password", "newPassword": 12345678},
     ("Invalid newPassword: expected a string", "invalid")),
    ({"newPassword": "new-password"}, ("Missing currentPassword", "invalid")),
    ({"currentPassword": 1, "newPassword": "new-password"}, ("Invalid currentPassword: expected a string", "invalid")),
    ({"currentPassword": "x" * 4097, "newPassword": "new-password"},
     ("Invalid currentPassword: longer than 4096 characters", "invalid")),
])
async def test_a_bad_password_change_is_400_and_changes_nothing(client, body, answer):
    await v2_sign_up(client)
    keeper, other = await log_in(client), await log_in(client)
    resp = await client.put("/v2/users/me/password", json=body, headers=bearer(keeper))
    assert await error_of(resp) == (400, {"error": answer[0], "code": answer[1]})
    assert (await client.get("/v2/users/me", headers=bearer(other))).status == 200
    assert await log_in(client)


async def test_a_password_change_needs_a_token_before_anything(client):
    resp = await client.put("/v2/users/me/password", data=b"{broken")
    assert await error_of(resp) == (401, {"error": "Unauthorized", "code": "unauthorized"})


# --- Bad input on every route ---------------------------------------------------------------

BAD_BODIES = [
    (b"{not json", "Invalid JSON body: "),
    (b"[]", "Invalid JSON body: expected an object"),
    (b'"text"', "Invalid JSON body: expected an object"),
    (b"null", "Invalid JSON body: expected an object"),
    (b'{"email": "\\ud800"}', "Invalid JSON body: a string holds a lone surrogate"),
    (b"\xff\xfe{}", "Invalid JSON body: not UTF-8"),
    (b"[" * 2000 + b"]" * 2000, "Invalid JSON body: nested more than 1024 levels deep"),
]
ROUTES = [("POST", "/v2/users"), ("POST", "/v2/sessions"), ("PUT", "/v2/users/me/password")]


@pytest.mark.parametrize("method, path", ROUTES)
async def test_a_malformed_body_is_400_with_a_code_and_changes_nothing(client, method, path):
    await v2_sign_up(client)
    token = await log_in(client)
    for raw, message in BAD_BODIES:
        resp = await client.request(method, path, data=raw, headers={**bearer(token),
                                                                      "Content-Type": "application/json"})
        status, body = await error_of(resp)
        assert (status, body["code"]) == (400, "invalid"), (raw[:20], body)
        assert body["error"].startswith(message), (raw[:20], body)
    assert (await stats(client))["users"] == 1
    assert (await client.get("/v2/users/me", headers=bearer(token))).status == 200
    assert await log_in(client)


@pytest.mark.parametrize("method, path", ROUTES)
async def test_a_huge_body_is_413_before_it_is_read(client, method, path):
    await v2_sign_up(client)
    token = await log_in(client)
    huge = json.dumps({"email": "x@example.com", "password": "p" * (1 << 20)}).encode()
    resp = await client.request(method, path, data=huge, headers=bearer(token))
    status, body = await error_of(resp)
    assert (status, body["code"]) == (413, "too_large")
    assert body["error"].startswith("Request body too large")
    assert (await stats(client))["users"] == 1


@pytest.mark.parametrize("body", [
    {"email": 1, "password": "ann-password"}, {"email": "ann@example.com", "password": None},
    {"email": "ann@example.com"}, {}, {"email": ["ann@example.com"], "password": "ann-password"},
    {"email": "ann@example.com", "password": {"$ne": ""}},
])
async def test_sessions_with_wrong_types_are_400_and_count_nothing(client, body, backend_settings):
    await v2_sign_up(client)
    resp = await client.post("/v2/sessions", json=body)
    status, answer = await error_of(resp)
    assert (status, answer["code"]) == (400, "invalid")
    assert answer["error"] in {"Missing email", "Missing password", "Invalid email: expected a string",
                               "Invalid password: expected a string"}
    async with aioredis.from_url(backend_settings.redis.url) as r:
        assert await r.keys("auth_*") == []
        assert await r.keys("files_manager:attempts:login:*") == []


async def test_a_login_racing_a_password_change_gets_no_token(in_process, monkeypatch):
    """A login that verified the old password while the change was being
    made, and indexed its token after the change ended the others, must not
    keep it: it reads the hash again, finds the new one, gives the token up."""
    client = await in_process()
    await v2_sign_up(client)
    keeper = await log_in(client)
    hasher = client.app[PASSWORDS]
    real_verify = hasher.verify
    verified, release = asyncio.Event(), asyncio.Event()

    async def verify(stored, password):
        result = await real_verify(stored, password)
        if not verified.is_set():  # the racing login's verification: held until the change is done
            verified.set()
            await release.wait()
        return result

    monkeypatch.setattr(hasher, "verify", verify)
    racing = asyncio.create_task(
        client.post("/v2/sessions", json={"email": "ann@example.com", "password": "ann-password"}))
    await verified.wait()
    assert (await change(client, keeper, "ann-password", "new-password")).status == 204
    release.set()
    resp = await racing
    assert await error_of(resp) == (401, {"error": "Unauthorized", "code": "unauthorized"})
    async with aioredis.from_url(client.app[SETTINGS].redis.url) as r:
        keys = await r.keys("auth_*")
    assert keys == [f"auth_{keeper}".encode()]


# --- Two API processes --------------------------------------------------------------------------

CHANGES = 40


def _call(conn, method: str, path: str, request_id: str, token: str | None = None,
          body: dict | None = None) -> tuple[int, dict | None]:
    headers = {"X-Request-Id": request_id}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    payload = None
    if body is not None:
        payload = json.dumps(body)
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=payload, headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    return resp.status, json.loads(raw) if raw else None


@pytest.mark.usefixtures("busy_cpus")
def test_a_password_change_ends_the_other_tokens_in_both_api_workers_at_once(live_service, redis_url):
    """The live service (two API workers), beside two CPU-bound processes:
    both workers remember a token, the owner changes the password through
    one of them, and at once neither accepts it, on the connections that
    remembered it or on fresh ones; the token that made the change goes on
    working in both."""

    live_service.reset()
    service = Service(int(live_service.url.rsplit(":", 1)[1]), live_service.log)
    conn = service.connection()
    status, _ = _call(conn, "POST", "/v2/users", "signup", body={"email": "two@example.com", "password": "password-0"})
    assert status == 201
    conn.close()
    workers = one_connection_per_worker(service)
    checks: list[str] = []
    for round_ in range(CHANGES):
        current, new = f"password-{round_}", f"password-{round_ + 1}"
        tokens = []
        for worker in (1, 2):
            status, body = _call(workers[worker], "POST", "/v2/sessions", f"login-{round_}-{worker}",
                                 body={"email": "two@example.com", "password": current})
            assert status == 201, body
            tokens.append(body["token"])
        keeper, victim = tokens
        for worker, warm in workers.items():  # both workers remember both tokens
            for name, token in (("keeper", keeper), ("victim", victim)):
                assert _call(warm, "GET", "/users/me", f"warm-{round_}-{worker}-{name}", token)[0] == 200
        changer = workers[1 + round_ % 2]
        status, _ = _call(changer, "PUT", "/v2/users/me/password", f"change-{round_}", keeper,
                          {"currentPassword": current, "newPassword": new})
        assert status == 204
        fresh = {f"fresh-{i}": service.connection() for i in range(2)}
        for name, check in {**{f"worker-{w}": c for w, c in workers.items()}, **fresh}.items():
            rid = f"check-{round_}-{name}"
            status, body = _call(check, "GET", "/v2/users/me", rid, victim)
            assert (status, body) == (401, {"error": "Unauthorized", "code": "unauthorized"}), (round_, name)
            assert _call(check, "GET", "/users/me", f"{rid}-keeper", keeper)[0] == 200, (round_, name)
            checks.append(rid)
        for check in fresh.values():
            check.close()
    answered_by = service.workers_of(checks)
    assert set(answered_by.values()) == {1, 2}
    # Each worker refused tokens that the other one ended.
    for worker in (1, 2):
        assert any(answered_by[f"check-{r}-worker-{worker}"] != 1 + r % 2 for r in range(CHANGES))
