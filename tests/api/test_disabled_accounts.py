"""An account the operator disabled (storage.set_disabled; the CLI's `users
disable` also ends its tokens, tests/cli): no login on v1 or v2, and no
request with a token of it, on every backend."""

from __future__ import annotations

from .conftest import basic, sign_up


async def test_a_disabled_account_cannot_log_in(client, storage):
    ann = await sign_up(client, "ann@example.com", "ann-password")
    await storage.set_disabled(ann.id, True)

    resp = await client.get("/connect", headers=basic("ann@example.com", "ann-password"))
    assert (resp.status, await resp.json()) == (401, {"error": "Unauthorized"})  # v1 as for wrong credentials
    resp = await client.post("/v2/sessions", json={"email": "ann@example.com", "password": "ann-password"})
    assert (resp.status, await resp.json()) == (401, {"error": "Account disabled", "code": "account_disabled"})
    resp = await client.post("/v2/sessions", json={"email": "ann@example.com", "password": "not hers"})
    assert (resp.status, await resp.json()) == (401, {"error": "Unauthorized", "code": "unauthorized"})

    await storage.set_disabled(ann.id, False)
    resp = await client.post("/v2/sessions", json={"email": "ann@example.com", "password": "ann-password"})
    assert resp.status == 201


async def test_a_token_of_a_disabled_account_is_refused(client, storage):
    ann = await sign_up(client, "ann@example.com", "ann-password")
    await storage.set_disabled(ann.id, True)
    # The API remembers a user up to 5 s (user_cache.py): a fresh app has not seen her yet.
    for path in ("/users/me", "/v2/users/me", "/files"):
        resp = await client.get(path, headers=ann.headers)
        assert resp.status == 401, path
