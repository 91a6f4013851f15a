"""One account per email, compared case-insensitively after trimming, shown as
typed at sign-up (on every backend, and across the live service's processes)."""

from __future__ import annotations

import asyncio

from .conftest import basic


async def test_an_email_in_another_case_or_with_spaces_is_the_same_account(client) -> None:
    resp = await client.post("/users", json={"email": "A@X.IO", "password": "pw-1234"})
    assert resp.status == 201
    created = await resp.json()
    assert created["email"] == "A@X.IO"

    for spelling in (" a@x.io", "a@x.io", "A@x.Io  "):
        resp = await client.post("/users", json={"email": spelling, "password": "other-pw"})
        assert resp.status == 400, spelling
        assert await resp.json() == {"error": "Already exist"}

    for spelling in ("A@X.IO", "a@x.io", " a@x.io", "a@X.io "):
        resp = await client.get("/connect", headers=basic(spelling, "pw-1234"))
        assert resp.status == 200, spelling
        token = (await resp.json())["token"]
        me = await client.get("/users/me", headers={"X-Token": token})
        assert await me.json() == {"id": created["id"], "email": "A@X.IO"}
    resp = await client.get("/connect", headers=basic("a@x.io", "other-pw"))
    assert resp.status == 401

    stats = await (await client.get("/stats")).json()
    assert stats["users"] == 1


async def test_the_email_is_kept_exactly_as_typed(client) -> None:
    resp = await client.post("/users", json={"email": "  Bob.Dylan@Example.COM ", "password": "pw-1234"})
    assert resp.status == 201
    assert (await resp.json())["email"] == "  Bob.Dylan@Example.COM "
    resp = await client.get("/connect", headers=basic("bob.dylan@example.com", "pw-1234"))
    token = (await resp.json())["token"]
    me = await (await client.get("/users/me", headers={"X-Token": token})).json()
    assert me["email"] == "  Bob.Dylan@Example.COM "


async def test_racing_sign_ups_in_several_spellings_make_one_account(client) -> None:
    spellings = ["race@x.io", "RACE@X.IO", " race@x.io", "Race@x.io ", "race@X.io"]
    responses = await asyncio.gather(
        *(client.post("/users", json={"email": s, "password": "pw-1234"}) for s in spellings)
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [201, 400, 400, 400, 400]
    assert (await (await client.get("/stats")).json())["users"] == 1
