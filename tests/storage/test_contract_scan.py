"""The fsck walk's storage methods on each backend: every file with a blob,
any user, live or trashed, a page at a time by id; usage drift and its recount."""

from __future__ import annotations

import sqlite3

import asyncpg
from pymongo import AsyncMongoClient

from shared.storage import Storage, UsageDrift

from .test_contract_v2 import folder, make, make_user


async def test_files_with_blobs_pages_every_users_files_by_id(storage: Storage) -> None:
    alice, bob = await make_user(storage), await make_user(storage, "bob@example.com")
    docs = await folder(storage, alice)
    made = [await make(storage, alice, f"a{i}", parent=docs.id) for i in range(5)]
    made += [await make(storage, bob, f"b{i}", type_="image") for i in range(4)]
    await storage.trash_file(alice.id, docs.id, now=1.0)  # trashed files have blobs too

    assert await storage.count_files_with_blobs() == 9
    seen, after, pages = [], None, 0
    while page := await storage.files_with_blobs(after, 4):
        assert len(page) <= 4
        seen += page
        after = page[-1].id
        pages += 1
    assert pages == 3
    assert [r.id for r in seen] == sorted(r.id for r in made)  # by id, each once, no folder
    assert {r.local_path for r in seen} == {r.local_path for r in made}
    assert sum(r.is_trashed for r in seen) == 5
    assert await storage.files_with_blobs("not-an-id", 4) == []


async def test_no_drift_while_the_counters_follow_the_files(storage: Storage) -> None:
    alice = await make_user(storage)
    a = await make(storage, alice, "a", size=100)
    await make(storage, alice, "b", size=20)
    await storage.purge_file(alice.id, a.id)
    assert await storage.usage_drifts() == []


async def set_used_bytes(storage: Storage, user_id: str, used: int) -> None:
    """What a crash between two writes, or another tool, leaves: a counter off."""
    path = getattr(storage, "path", None)
    if path is not None:
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE users SET used_bytes = ? WHERE id = ?", (used, user_id))
        return
    url = getattr(storage, "url", None)
    if url is not None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("UPDATE users SET used_bytes = $1 WHERE id = $2", used, user_id)
        finally:
            await conn.close()
        return
    client: AsyncMongoClient = storage._client  # type: ignore[attr-defined]
    from bson import ObjectId
    await client.get_default_database()["users"].update_one({"_id": ObjectId(user_id)},
                                                             {"$set": {"usedBytes": used}})


async def test_a_drifted_counter_is_found_and_recounted(storage: Storage) -> None:
    alice, bob = await make_user(storage), await make_user(storage, "bob@example.com")
    await make(storage, alice, "a", size=100)
    await make(storage, alice, "b", size=20)
    await make(storage, bob, "c", size=7)
    await set_used_bytes(storage, alice.id, 999)
    assert await storage.usage_drifts() == [UsageDrift(alice.id, "alice@example.com", 999, 0, 120, 0)]
    assert (await storage.recount_usage(alice.id)).used_bytes == 120
    assert (await storage.usage(alice.id)).used_bytes == 120
    assert await storage.usage_drifts() == []
    assert (await storage.usage(bob.id)).used_bytes == 7


async def test_blobs_in_use_are_named_by_the_last_part_of_any_files_path(storage: Storage) -> None:
    alice, bob = await make_user(storage), await make_user(storage, "bob@example.com")
    a = await make(storage, alice, "a")
    b = await make(storage, bob, "b")
    await folder(storage, alice)  # no path
    await storage.trash_file(bob.id, b.id, now=1.0)  # trashed files keep their blobs
    names = {a.local_path.rsplit("/", 1)[1], b.local_path.rsplit("/", 1)[1], "orphan"}  # type: ignore[union-attr]
    in_use, total = await storage.blobs_in_use(names)
    assert in_use == names - {"orphan"}
    assert total == 2
