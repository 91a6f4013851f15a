"""The operator's account changes (disable, enable, list), on every backend
(see conftest.py), and how a disabled account reads on each."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from shared.storage import Storage, new_id, open_storage
from shared.storage.sqlite_migrations import LATEST

from .test_contract import MALFORMED_IDS, make_user


async def test_a_new_account_is_enabled(storage: Storage):
    user = await make_user(storage)
    assert user.disabled is False
    assert (await storage.user_by_id(user.id)).disabled is False


async def test_disable_and_enable_are_read_back_by_every_lookup(storage: Storage):
    user = await make_user(storage, "ann@example.com")
    other = await make_user(storage, "bob@example.com")
    assert await storage.set_disabled(user.id, True) is True
    assert (await storage.user_by_id(user.id)).disabled is True
    assert (await storage.user_by_email("ANN@example.com")).disabled is True
    assert (await storage.user_by_id(other.id)).disabled is False  # only that account
    assert await storage.set_disabled(user.id, True) is True  # twice is the same
    assert await storage.set_disabled(user.id, False) is True
    assert (await storage.user_by_email("ann@example.com")).disabled is False


async def test_disable_of_no_such_user_says_so(storage: Storage):
    assert await storage.set_disabled(new_id(), True) is False
    for bad in MALFORMED_IDS:
        assert await storage.set_disabled(bad, True) is False


async def test_disabling_keeps_the_rest_of_the_account(storage: Storage):
    user = await make_user(storage)
    await storage.set_quota(user.id, 1234)
    await storage.set_disabled(user.id, True)
    again = await storage.user_by_id(user.id)
    assert (again.email, again.password_hash, again.quota_bytes) == (user.email, user.password_hash, 1234)


async def test_list_users_pages_in_id_order(storage: Storage):
    made = [await make_user(storage, f"u{i}@example.com") for i in range(7)]
    await storage.set_disabled(made[2].id, True)
    seen, after = [], None
    while page := await storage.list_users(3, after):
        assert len(page) <= 3
        seen.extend(page)
        after = page[-1].id
    assert [u.id for u in seen] == sorted(u.id for u in made)
    assert {u.email for u in seen} == {u.email for u in made}
    assert [u.id for u in seen if u.disabled] == [made[2].id]
    assert await storage.list_users(0, None) == []


async def test_list_users_of_an_empty_database(storage: Storage):
    assert await storage.list_users(10, None) == []


async def test_sqlite_v5_adds_disabled_to_an_existing_database(tmp_path: Path):
    """A v4 database (the schema before this version) with an account keeps
    it, enabled, once opened by this code."""
    path = tmp_path / "db.sqlite3"
    storage = await open_storage(f"sqlite:///{path}")
    user = await storage.create_user("old@example.com", "hash")
    await storage.close()
    with sqlite3.connect(path) as db:  # back to v4: as the previous version left it
        db.execute("ALTER TABLE users DROP COLUMN disabled")
        db.execute("PRAGMA user_version = 4")
    db.close()
    storage = await open_storage(f"sqlite:///{path}")
    try:
        again = await storage.user_by_id(user.id)
        assert again is not None and again.disabled is False
        assert await storage.set_disabled(user.id, True)
    finally:
        await storage.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (LATEST,) == (5,)
    db.close()


async def test_mongo_disabled_is_a_field_beside_the_originals(mongo_storage: Storage, raw_db):
    user = await make_user(mongo_storage)
    await mongo_storage.set_disabled(user.id, True)
    doc = await raw_db["users"].find_one({"email": user.email})
    assert doc["disabled"] is True and doc["password"] == user.password_hash
    await mongo_storage.set_disabled(user.id, False)
    doc = await raw_db["users"].find_one({"email": user.email})
    assert "disabled" not in doc  # as the original's documents: absent means enabled


async def test_mongo_an_originals_user_is_listed_and_enabled(mongo_storage: Storage, raw_db):
    from bson import ObjectId

    oid = ObjectId()
    await raw_db["users"].insert_one({"_id": oid, "email": "legacy@example.com", "password": "sha1hex"})
    (listed,) = await mongo_storage.list_users(10, None)
    assert (listed.id, listed.email, listed.disabled) == (str(oid), "legacy@example.com", False)


@pytest.mark.parametrize("bad", ["", "zz", "0" * 25])
async def test_list_users_after_a_malformed_id_matches_nothing_or_everything_after(storage: Storage, bad: str):
    await make_user(storage)
    page = await storage.list_users(10, bad)
    assert isinstance(page, list)  # never raises
