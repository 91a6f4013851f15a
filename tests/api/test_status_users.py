"""GET /status, GET /stats, POST /users, GET /users/me."""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from shared.jobs import stream_of

from .conftest import basic, sign_up, upload


async def test_status_reports_both_backends_up(client):
    resp = await client.get("/status")
    assert resp.status == 200
    assert await resp.json() == {"redis": True, "db": True}


async def test_stats_on_an_empty_service(client):
    resp = await client.get("/stats")
    assert resp.status == 200
    assert await resp.json() == {"users": 0, "files": 0}


async def test_stats_count_users_and_every_file_including_folders(client, alice, bob):
    folder = await upload(client, alice, name="docs", type="folder")
    await upload(client, alice, name="a.txt", type="file", data="aGk=", parentId=folder["id"])
    await upload(client, bob, name="b.txt", type="file", data="aGk=")
    resp = await client.get("/stats")
    assert await resp.json() == {"users": 2, "files": 3}


async def test_create_user_returns_201_with_id_and_email(client):
    resp = await client.post("/users", json={"email": "bob@dylan.com", "password": "toto1234!"})
    assert resp.status == 201
    body = await resp.json()
    assert set(body) == {"id", "email"}
    assert body["email"] == "bob@dylan.com"
    assert len(body["id"]) == 24 and int(body["id"], 16) >= 0


async def test_missing_email(client):
    resp = await client.post("/users", json={"password": "x"})
    assert resp.status == 400
    assert await resp.json() == {"error": "Missing email"}


async def test_missing_password(client):
    resp = await client.post("/users", json={"email": "a@b.c"})
    assert resp.status == 400
    assert await resp.json() == {"error": "Missing password"}


async def test_missing_email_is_checked_before_missing_password(client):
    resp = await client.post("/users", json={})
    assert await resp.json() == {"error": "Missing email"}


async def test_empty_body_is_missing_email(client):
    resp = await client.post("/users", data=b"")
    assert resp.status == 400
    assert await resp.json() == {"error": "Missing email"}


async def test_already_exist(client):
    await client.post("/users", json={"email": "dup@x.io", "password": "p"})
    resp = await client.post("/users", json={"email": "dup@x.io", "password": "other"})
    assert resp.status == 400
    assert await resp.json() == {"error": "Already exist"}
    assert (await (await client.get("/stats")).json())["users"] == 1


async def test_missing_password_is_checked_before_already_exist(client):
    await client.post("/users", json={"email": "dup@x.io", "password": "p"})
    resp = await client.post("/users", json={"email": "dup@x.io"})
    assert await resp.json() == {"error": "Missing password"}


async def test_malformed_json_is_a_clear_400(client):
    resp = await client.post("/users", data=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert (await resp.json())["error"].startswith("Invalid JSON body")


async def test_json_that_is_not_an_object_is_a_clear_400(client):
    resp = await client.post("/users", json=["a@b.c", "pw"])
    assert resp.status == 400
    assert await resp.json() == {"error": "Invalid JSON body: expected an object"}


async def test_non_string_email_is_rejected_and_nothing_is_stored(client):
    resp = await client.post("/users", json={"email": 42, "password": "pw"})
    assert resp.status == 400
    assert await resp.json() == {"error": "Invalid email: expected a string"}
    assert (await (await client.get("/stats")).json())["users"] == 0


async def test_password_is_never_stored_in_clear_nor_as_sha1(client, backend_settings):
    import hashlib

    from shared.storage import open_storage

    await client.post("/users", json={"email": "h@x.io", "password": "hunter2"})
    storage = await open_storage(backend_settings.storage.db_url)
    try:
        user = await storage.user_by_email("h@x.io")
    finally:
        await storage.close()
    assert user.password_hash.startswith("$argon2id$")
    assert "hunter2" not in user.password_hash
    assert hashlib.sha1(b"hunter2").hexdigest() not in user.password_hash


async def test_a_welcome_job_is_enqueued_for_a_new_user(client, backend_settings):
    resp = await client.post("/users", json={"email": "w@x.io", "password": "pw"})
    user_id = (await resp.json())["id"]
    async with aioredis.from_url(backend_settings.redis.url) as r:
        entries = await r.xrange(stream_of("welcome"))
    assert len(entries) == 1
    # and it names the request that made it (its log lines find the sign-up's)
    assert json.loads(entries[0][1][b"data"]) == {"userId": user_id, "requestId": resp.headers["X-Request-Id"]}


async def test_a_rejected_sign_up_enqueues_nothing(client, backend_settings):
    await client.post("/users", json={"email": "w@x.io"})
    async with aioredis.from_url(backend_settings.redis.url) as r:
        assert await r.xlen(stream_of("welcome")) == 0


async def test_users_me(client, alice):
    resp = await client.get("/users/me", headers=alice.headers)
    assert resp.status == 200
    assert await resp.json() == {"id": alice.id, "email": "alice@example.com"}


async def test_users_me_without_token(client):
    resp = await client.get("/users/me")
    assert resp.status == 401
    assert await resp.json() == {"error": "Unauthorized"}


async def test_users_me_with_unknown_token(client):
    resp = await client.get("/users/me", headers={"X-Token": "031bffac-3edc-4e51-aaae-1c121317da8a"})
    assert resp.status == 401
    assert await resp.json() == {"error": "Unauthorized"}


async def test_token_whose_user_does_not_exist_is_unauthorized(client, backend_settings):
    async with aioredis.from_url(backend_settings.redis.url) as r:
        await r.set("auth_orphan-token", "0123456789abcdef01234567")
    resp = await client.get("/users/me", headers={"X-Token": "orphan-token"})
    assert resp.status == 401


async def test_two_users_get_distinct_ids(client):
    a = await sign_up(client)
    b = await sign_up(client)
    assert a.id != b.id


async def test_login_with_the_new_users_credentials_works(client):
    await client.post("/users", json={"email": "c@x.io", "password": "pw"})
    resp = await client.get("/connect", headers=basic("c@x.io", "pw"))
    assert resp.status == 200
