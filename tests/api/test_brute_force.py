"""Brute-force limits (api-v2.md, "Brute force"): failed logins counted in
Redis per (account, client address) and per client address, sign-ups per
client address; 429 `Too many attempts` with Retry-After; no hash spent on a
refused attempt; the owner still logs in from elsewhere."""

from __future__ import annotations

import asyncio
import ipaddress
import time

import pytest
import redis.asyncio as aioredis

from services.api.app import create_app
from services.api.keys import PASSWORDS
from shared.attempts import PREFIX, address_key
from shared.config import Settings
from tests.conftest import private_redis

from .conftest import basic

PROXY = ("127.0.0.1/32",)  # the test client's peer, trusted to name the client in X-Forwarded-For


def limited(settings: Settings, trusted: tuple[str, ...] = (), **security) -> Settings:
    return settings.replace(security=security,
                            server={"trusted_proxies": tuple(ipaddress.ip_network(t) for t in trusted)})


def via(address: str, headers: dict[str, str] | None = None) -> dict[str, str]:
    return {**(headers or {}), "X-Forwarded-For": address}


async def sign_up(client, email: str, password: str, headers: dict[str, str] | None = None) -> None:
    resp = await client.post("/users", json={"email": email, "password": password}, headers=headers)
    assert resp.status == 201, await resp.text()


async def connect(client, email: str, password: str, address: str | None = None) -> int:
    headers = basic(email, password)
    if address is not None:
        headers = via(address, headers)
    resp = await client.get("/connect", headers=headers)
    await resp.read()
    return resp.status


async def assert_too_many(resp, at_most: float) -> None:
    assert resp.status == 429
    assert await resp.json() == {"error": "Too many attempts"}
    assert 1 <= int(resp.headers["Retry-After"]) <= at_most


async def test_ten_wrong_passwords_then_429_even_for_the_right_one(client, backend_settings):
    """Every backend, the live service too: there two API processes share the count."""
    await sign_up(client, "victim@example.com", "right-pw")
    for _ in range(10):
        assert await connect(client, "victim@example.com", "wrong") == 401
    resp = await client.get("/connect", headers=basic("victim@example.com", "wrong"))
    await assert_too_many(resp, 900)
    resp = await client.get("/connect", headers=basic("victim@example.com", "right-pw"))
    await assert_too_many(resp, 900)
    # Keyed as the storage matches e-mails: another spelling is the same account.
    resp = await client.get("/connect", headers=basic("  Victim@Example.COM ", "right-pw"))
    await assert_too_many(resp, 900)


async def test_the_owner_still_logs_in_from_another_address(settings, aiohttp_client):
    client = await aiohttp_client(create_app(limited(settings, PROXY)))
    await sign_up(client, "owner@example.com", "right-pw")
    for _ in range(10):
        assert await connect(client, "owner@example.com", "wrong", "203.0.113.5") == 401
    assert await connect(client, "owner@example.com", "right-pw", "203.0.113.5") == 429
    assert await connect(client, "owner@example.com", "right-pw", "198.51.100.7") == 200
    assert await connect(client, "owner@example.com", "right-pw", "203.0.113.5") == 429  # still


async def test_a_success_does_not_count(settings, aiohttp_client):
    """Nine failures then the right password: that account's failures from
    that address start again from zero (and the success itself is not one)."""
    client = await aiohttp_client(create_app(limited(settings, login_max_failures=3)))
    await sign_up(client, "typo@example.com", "right-pw")
    for _ in range(3):
        for _ in range(2):
            assert await connect(client, "typo@example.com", "wrong") == 401
        assert await connect(client, "typo@example.com", "right-pw") == 200
    for _ in range(3):
        assert await connect(client, "typo@example.com", "wrong") == 401
    assert await connect(client, "typo@example.com", "wrong") == 429


async def test_the_per_address_cap_spans_accounts(settings, aiohttp_client):
    client = await aiohttp_client(create_app(limited(settings, PROXY, login_max_failures=3,
                                                     login_max_failures_per_address=5)))
    await sign_up(client, "real@example.com", "right-pw")
    for i in range(5):  # one failure each on five accounts, known or not
        assert await connect(client, f"guess{i}@example.com", "pw", "203.0.113.9") == 401
    assert await connect(client, "guess9@example.com", "pw", "203.0.113.9") == 429
    assert await connect(client, "real@example.com", "right-pw", "203.0.113.9") == 429
    assert await connect(client, "real@example.com", "right-pw", "198.51.100.1") == 200


async def test_two_app_instances_share_the_counters(settings, aiohttp_client):
    first = await aiohttp_client(create_app(limited(settings, login_max_failures=4)))
    second = await aiohttp_client(create_app(limited(settings, login_max_failures=4)))
    await sign_up(first, "shared@example.com", "right-pw")
    for client in (first, second, first, second):
        assert await connect(client, "shared@example.com", "wrong") == 401
    assert await connect(first, "shared@example.com", "right-pw") == 429
    assert await connect(second, "shared@example.com", "right-pw") == 429


async def test_the_window_expires_and_leaves_nothing_behind(settings, aiohttp_client):
    client = await aiohttp_client(create_app(limited(settings, login_max_failures=2, login_failure_window=1.0)))
    await sign_up(client, "patient@example.com", "right-pw")
    for _ in range(2):
        assert await connect(client, "patient@example.com", "wrong") == 401
    resp = await client.get("/connect", headers=basic("patient@example.com", "right-pw"))
    await assert_too_many(resp, 1)
    async with aioredis.from_url(settings.redis.url) as r:
        keys = await r.keys(PREFIX + "login:*")
        ttls = [await r.pttl(key) for key in keys]
        assert len(ttls) == 2 and all(0 < ttl <= 1000 for ttl in ttls)
        deadline = time.monotonic() + 10
        while await r.keys(PREFIX + "login:*"):  # the counts end with their window
            assert time.monotonic() < deadline, "counters outlived their window"
            await asyncio.sleep(0.05)
    assert await connect(client, "patient@example.com", "right-pw") == 200


async def test_signups_are_limited_per_address(settings, aiohttp_client):
    client = await aiohttp_client(create_app(limited(settings, PROXY, signup_max_per_address=3)))
    await sign_up(client, "a@example.com", "pw")
    await sign_up(client, "b@example.com", "pw")
    resp = await client.post("/users", json={"email": "a@example.com", "password": "pw"})
    assert resp.status == 400  # taken: counts too (it tells whether an address is registered)
    resp = await client.post("/users", json={"email": "c@example.com", "password": "pw"})
    await assert_too_many(resp, 3600)
    resp = await client.post("/users", json={"email": "c@example.com"})
    assert resp.status == 400  # malformed: answered as before, costs nothing, counts nothing
    await sign_up(client, "c@example.com", "pw", headers=via("198.51.100.2"))
    assert await connect(client, "a@example.com", "pw") == 200  # logins are another count


async def test_x_forwarded_for_is_ignored_from_an_untrusted_peer(settings, aiohttp_client):
    client = await aiohttp_client(create_app(limited(settings, login_max_failures=3)))
    await sign_up(client, "spoof@example.com", "right-pw")
    for i in range(3):
        assert await connect(client, "spoof@example.com", "wrong", f"203.0.113.{i}") == 401
    assert await connect(client, "spoof@example.com", "right-pw", "198.51.100.3") == 429


async def test_a_refused_attempt_costs_no_hash(settings, aiohttp_client, monkeypatch):
    """Hashes counted through the app's own hasher; concurrent wrong passwords
    are held to the limit too (counted as they start)."""
    app = create_app(limited(settings, login_max_failures=5))
    client = await aiohttp_client(app)
    await sign_up(client, "hashes@example.com", "right-pw")
    hasher = app[PASSWORDS]
    hashes = [0]
    real_verify, real_hash = hasher.verify, hasher.hash

    async def verify(stored, password):
        hashes[0] += 1
        return await real_verify(stored, password)

    async def hash_(password):
        hashes[0] += 1
        return await real_hash(password)

    monkeypatch.setattr(hasher, "verify", verify)
    monkeypatch.setattr(hasher, "hash", hash_)
    statuses = await asyncio.gather(*(connect(client, "hashes@example.com", "wrong") for _ in range(30)))
    assert sorted(statuses) == [401] * 5 + [429] * 25
    assert hashes[0] == 5
    for _ in range(5):
        assert await connect(client, "hashes@example.com", "right-pw") == 429
    assert hashes[0] == 5


async def test_key_names_never_hold_the_email(settings, aiohttp_client):
    client = await aiohttp_client(create_app(settings))
    assert await connect(client, "Secret.Person@example.com", "wrong") == 401
    async with aioredis.from_url(settings.redis.url) as r:
        keys = [key.decode() for key in await r.keys(PREFIX + "login:*")]
    assert len(keys) == 2
    assert not any("secret" in key.lower() or "example" in key for key in keys)


@pytest.mark.parametrize("address, counted_as", [
    ("203.0.113.7", "203.0.113.7"),
    ("::ffff:203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
    ("unknown", "unknown"),
])
def test_an_ipv6_client_counts_by_its_64(address, counted_as):
    assert address_key(address) == counted_as


async def test_redis_down_is_503_not_a_free_pass(settings, aiohttp_client, tmp_path):
    """The counts live in Redis: without it, no login and no sign-up is let
    through uncounted; both say 503, as every Redis failure does."""
    with private_redis(tmp_path) as (url, proc):
        client = await aiohttp_client(create_app(settings.replace(redis={"url": url})))
        await sign_up(client, "down@example.com", "pw")
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)
        for resp in (await client.get("/connect", headers=basic("down@example.com", "pw")),
                     await client.post("/users", json={"email": "new@example.com", "password": "pw"})):
            assert resp.status == 503
            assert resp.headers["Retry-After"] == "1"
