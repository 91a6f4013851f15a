"""GET /connect and GET /disconnect; tokens in Redis in the original's layout."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import uuid

import pytest
import redis.asyncio as aioredis
import redis.exceptions

from services.api.app import create_app
from shared.storage import open_storage
from tests.conftest import private_redis

from .conftest import basic


@pytest.fixture
async def user(client):
    await client.post("/users", json={"email": "bob@dylan.com", "password": "toto1234!"})
    return "bob@dylan.com", "toto1234!"


async def auth_keys(settings) -> list[bytes]:
    async with aioredis.from_url(settings.redis.url) as r:
        return sorted(await r.keys("auth_*"))


async def test_connect_returns_a_token_stored_as_auth_key_for_24_hours(client, user, backend_settings):
    resp = await client.get("/connect", headers=basic(*user))
    assert resp.status == 200
    body = await resp.json()
    assert set(body) == {"token"}
    token = body["token"]
    assert uuid.UUID(token).version == 4
    me = await (await client.get("/users/me", headers={"X-Token": token})).json()
    async with aioredis.from_url(backend_settings.redis.url) as r:
        assert (await r.get(f"auth_{token}")).decode() == me["id"]
        ttl = await r.ttl(f"auth_{token}")
    assert 86400 - 5 <= ttl <= 86400


async def test_each_connect_gives_a_new_token(client, user):
    t1 = (await (await client.get("/connect", headers=basic(*user))).json())["token"]
    t2 = (await (await client.get("/connect", headers=basic(*user))).json())["token"]
    assert t1 != t2


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer abc",
        "Basic",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"hello").decode(),  # no colon
        "Basic " + base64.b64encode(b":toto1234!").decode(),  # no email
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),  # not UTF-8
    ],
)
async def test_malformed_authorization_is_unauthorized_and_creates_no_token(client, user, header, backend_settings):
    headers = {} if header is None else {"Authorization": header}
    resp = await client.get("/connect", headers=headers)
    assert resp.status == 401
    assert await resp.json() == {"error": "Unauthorized"}
    assert await auth_keys(backend_settings) == []


async def test_wrong_password_is_unauthorized(client, user, backend_settings):
    resp = await client.get("/connect", headers=basic(user[0], "wrong"))
    assert resp.status == 401
    assert await resp.json() == {"error": "Unauthorized"}
    assert await auth_keys(backend_settings) == []


async def test_unknown_user_is_unauthorized(client, user, backend_settings):
    resp = await client.get("/connect", headers=basic("nobody@x.io", "toto1234!"))
    assert resp.status == 401
    assert await auth_keys(backend_settings) == []


async def test_password_with_a_colon_works(client):
    await client.post("/users", json={"email": "c@x.io", "password": "a:b:c"})
    resp = await client.get("/connect", headers=basic("c@x.io", "a:b:c"))
    assert resp.status == 200


async def test_head_connect_mints_no_token(client, user, backend_settings):
    resp = await client.head("/connect", headers=basic(*user))
    assert resp.status == 405
    assert await auth_keys(backend_settings) == []


async def test_disconnect_deletes_the_token(client, user, backend_settings):
    token = (await (await client.get("/connect", headers=basic(*user))).json())["token"]
    resp = await client.get("/disconnect", headers={"X-Token": token})
    assert resp.status == 204
    assert await resp.read() == b""
    assert await auth_keys(backend_settings) == []
    resp = await client.get("/users/me", headers={"X-Token": token})
    assert resp.status == 401


async def test_disconnect_with_unknown_token(client):
    resp = await client.get("/disconnect", headers={"X-Token": "nope"})
    assert resp.status == 401
    assert await resp.json() == {"error": "Unauthorized"}


async def test_disconnect_without_token(client):
    resp = await client.get("/disconnect")
    assert resp.status == 401


async def test_token_issued_by_the_original_is_accepted(client, user, backend_settings):
    """The original wrote auth_<uuid> -> the user id; such a token keeps working."""
    me_token = (await (await client.get("/connect", headers=basic(*user))).json())["token"]
    user_id = (await (await client.get("/users/me", headers={"X-Token": me_token})).json())["id"]
    legacy = str(uuid.uuid4())
    async with aioredis.from_url(backend_settings.redis.url) as r:
        await r.set(f"auth_{legacy}", user_id, ex=86400)
    resp = await client.get("/users/me", headers={"X-Token": legacy})
    assert resp.status == 200
    assert (await resp.json())["id"] == user_id


async def test_legacy_sha1_user_logs_in_and_is_rehashed(client, backend_settings):
    storage = await open_storage(backend_settings.storage.db_url)
    try:
        legacy = await storage.create_user("old@x.io", hashlib.sha1(b"oldpass").hexdigest())
        resp = await client.get("/connect", headers=basic("old@x.io", "wrong"))
        assert resp.status == 401
        assert (await storage.user_by_id(legacy.id)).password_hash == hashlib.sha1(b"oldpass").hexdigest()
        resp = await client.get("/connect", headers=basic("old@x.io", "oldpass"))
        assert resp.status == 200
        rehashed = (await storage.user_by_id(legacy.id)).password_hash
        assert rehashed.startswith("$argon2id$")
        # and the new hash works on the next login
        resp = await client.get("/connect", headers=basic("old@x.io", "oldpass"))
        assert resp.status == 200
    finally:
        await storage.close()


async def test_tokens_never_appear_in_logs(client, user, service_output):
    service_output()
    token = (await (await client.get("/connect", headers=basic(*user))).json())["token"]
    await client.get("/users/me", headers={"X-Token": token})
    await client.get("/disconnect", headers={"X-Token": token})
    out = service_output('"path":"/disconnect"')
    assert out.count('"request"') >= 3  # the lines are there (earlier ones may still arrive)...
    assert token not in out  # ...without the token


async def test_a_token_revoked_in_one_process_is_refused_at_once_by_another(settings, aiohttp_client):
    """Each API process remembers tokens it has seen (Redis CLIENT TRACKING
    tells it when they change); a logout through one process must be
    refused by another that remembered the token, right away."""
    first = await aiohttp_client(create_app(settings))
    second = await aiohttp_client(create_app(settings))
    await first.post("/users", json={"email": "two@example.com", "password": "pw"})
    for _ in range(3):
        token = (await (await first.get("/connect", headers=basic("two@example.com", "pw"))).json())["token"]
        for _ in range(3):
            assert (await second.get("/users/me", headers={"X-Token": token})).status == 200
        assert (await first.get("/disconnect", headers={"X-Token": token})).status == 204
        assert (await second.get("/users/me", headers={"X-Token": token})).status == 401
        assert (await first.get("/users/me", headers={"X-Token": token})).status == 401


async def test_redis_down_is_503_with_retry_after(settings, aiohttp_client, tmp_path):
    with private_redis(tmp_path) as (url, proc):
        client = await aiohttp_client(create_app(settings.replace(redis={"url": url})))
        await client.post("/users", json={"email": "down@example.com", "password": "pw"})
        token = (await (await client.get("/connect", headers=basic("down@example.com", "pw"))).json())["token"]
        assert (await client.get("/users/me", headers={"X-Token": token})).status == 200
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)
        for path in ("/users/me", "/files", "/connect"):
            headers = basic("down@example.com", "pw") if path == "/connect" else {"X-Token": token}
            resp = await client.get(path, headers=headers)
            assert resp.status == 503, path
            assert resp.headers["Retry-After"] == "1"
            assert await resp.json() == {"error": "Service unavailable"}


async def test_a_redis_out_of_memory_is_503_and_leaves_nothing(settings, aiohttp_client, tmp_path):
    """Redis refusing writes (maxmemory reached, noeviction) is the service's
    trouble, not the client's: 503 with Retry-After, no token, no user."""
    with private_redis(tmp_path, "--maxmemory", "2mb", "--maxmemory-policy", "noeviction") as (url, _):
        client = await aiohttp_client(create_app(settings.replace(redis={"url": url})))
        assert (await client.post("/users", json={"email": "full@example.com", "password": "pw"})).status == 201
        async with aioredis.from_url(url) as r:
            with pytest.raises(redis.exceptions.OutOfMemoryError):  # fill Redis up to its limit
                for n in range(10_000):
                    await r.set(f"filler:{n}", "x" * 4096)
            keys_before = await r.dbsize()
        resp = await client.get("/connect", headers=basic("full@example.com", "pw"))
        assert resp.status == 503
        assert resp.headers["Retry-After"] == "1"
        resp = await client.post("/users", json={"email": "more@example.com", "password": "pw"})
        assert resp.status == 503
        assert (await (await client.get("/stats")).json())["users"] == 1  # the sign-up left nothing
        async with aioredis.from_url(url) as r:
            assert await r.dbsize() == keys_before  # no token, no job
