"""Ids cannot be guessed from another id: after the 4-byte creation time, every
id is 8 fresh random bytes, whoever minted it (users and files, both backends,
any process), and it still is an ObjectId (the contract)."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time

from bson import ObjectId

from shared.storage import NewFile, Storage, is_id, new_id, new_object_id


def _tail(object_id: str) -> bytes:
    """What follows the timestamp: bson's per-process "random" value and counter before."""
    return bytes.fromhex(object_id)[4:]


def assert_unrelated(ids: list[str]) -> None:
    """No two ids share their 5-byte "process" part, and the 3-byte "counter"
    parts do not follow one another (what made neighbours guessable). Chance
    of a false alarm: below 1e-7 for 200 ids."""
    tails = [_tail(i) for i in ids]
    assert len({t[:5] for t in tails}) == len(ids), "ids share the 'process' bytes"
    if len(ids) >= 10:
        counters = [int.from_bytes(t[5:], "big") for t in tails]
        steps = {(b - a) % 2**24 for a, b in itertools.pairwise(counters)}
        assert len(steps) > len(ids) // 2, "the counter bytes step regularly"


def test_consecutive_ids_share_nothing_past_the_timestamp() -> None:
    before = int(time.time())
    ids = [new_id() for _ in range(200)]
    after = int(time.time())
    assert all(is_id(i) and i == i.lower() for i in ids)
    assert all(before <= ObjectId(i).generation_time.timestamp() <= after for i in ids)
    assert_unrelated(ids)
    assert isinstance(new_object_id(), ObjectId)


def test_ids_of_two_processes_share_nothing_past_the_timestamp() -> None:
    script = "from shared.storage import new_id; print(*(new_id() for _ in range(100)))"
    outputs = [
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                       timeout=60).stdout.split()
        for _ in range(2)
    ]
    assert [len(o) for o in outputs] == [100, 100]
    assert_unrelated(outputs[0] + outputs[1])


async def test_every_id_the_backends_mint_is_random(storage: Storage) -> None:
    users = [await storage.create_user(f"u{n}@example.com", "h") for n in range(20)]
    files = [
        await storage.create_file(NewFile(users[n % 20].id, f"f{n}", "folder", n % 2 == 0, 0, None))
        for n in range(40)
    ]
    assert_unrelated([u.id for u in users] + [f.id for f in files])


async def test_mongo_stores_them_as_object_ids(mongo_storage: Storage, raw_db) -> None:
    user = await mongo_storage.create_user("oid@example.com", "h")
    record = await mongo_storage.create_file(NewFile(user.id, "f", "folder", False, 0, None))
    user_doc = await raw_db.users.find_one({"_id": ObjectId(user.id)})
    file_doc = await raw_db.files.find_one({"_id": ObjectId(record.id)})
    assert type(user_doc["_id"]) is ObjectId and type(file_doc["_id"]) is ObjectId
    assert file_doc["userId"] == ObjectId(user.id)
    assert_unrelated([user.id, record.id])
