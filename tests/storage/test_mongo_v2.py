"""MongoDB only, v2: documents the original wrote (straight into the
database with pymongo, none of v2's fields) are listed, searched, moved,
trashed, restored and purged correctly, and keep their fields' types; what
a crash between two single-document writes leaves is finished by doing it
again; the quota holds under racing writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient, MongoClient, monitoring

from shared.errors import Invalid, NotFound, QuotaExceeded
from shared.storage import ROOT, NewFile, Order, Storage, Upload, Usage, new_id, open_storage, position_of
from shared.storage.mongo import MongoStorage

ORIGINAL_FIELDS = {"_id": ObjectId, "userId": ObjectId, "name": str, "type": str, "isPublic": bool}


async def original_user(raw_db, email: str = "bob@dylan.com") -> str:
    return str((await raw_db.users.insert_one({"email": email, "password": "sha1"})).inserted_id)


async def original_file(raw_db, user_id: str, name: str, type_: str = "file", parent: object = 0,
                        **extra) -> str:
    doc = {"userId": ObjectId(user_id), "name": name, "type": type_, "isPublic": False, "parentId": parent}
    if type_ != "folder":
        doc["localPath"] = f"/tmp/files_manager/{name}"
    doc.update(extra)
    return str((await raw_db.files.insert_one(doc)).inserted_id)


async def original_tree(raw_db, user_id: str) -> dict[str, str]:
    """top/{a.txt, sub/{B.txt, c.png}} and loose.txt at the root, as the original writes them."""
    ids = {"top": await original_file(raw_db, user_id, "top", "folder")}
    ids["a.txt"] = await original_file(raw_db, user_id, "a.txt", parent=ObjectId(ids["top"]))
    ids["sub"] = await original_file(raw_db, user_id, "sub", "folder", parent=ObjectId(ids["top"]))
    ids["B.txt"] = await original_file(raw_db, user_id, "B.txt", parent=ObjectId(ids["sub"]))
    ids["c.png"] = await original_file(raw_db, user_id, "c.png", "image", parent=ObjectId(ids["sub"]))
    ids["loose.txt"] = await original_file(raw_db, user_id, "loose.txt", parent="0")
    return ids


async def assert_original_types(raw_db) -> None:
    """Whatever we did, the original's fields keep their types (and root spelling)."""
    async for doc in raw_db.files.find({}):
        for field, kind in ORIGINAL_FIELDS.items():
            assert type(doc[field]) is kind, (field, doc)
        parent = doc["parentId"]
        assert parent in (0, "0") or type(parent) is ObjectId, doc
        if parent == 0:
            assert type(parent) is int
        if doc["type"] != "folder":
            assert type(doc["localPath"]) is str


# ---------------------------------------------------------------- the original's documents


async def test_the_originals_files_are_listed_in_every_order_and_paged(mongo_storage: Storage, raw_db) -> None:
    user_id = await original_user(raw_db)
    ids = await original_tree(raw_db, user_id)
    sub = ids["sub"]
    # Written after open, by the original still running: keyed when first listed.
    late = await original_file(raw_db, user_id, "a-late.txt", parent=ObjectId(sub))
    for order in (Order("name"), Order("name", True), Order("updated_at"), Order("size", True)):
        listed = await mongo_storage.list_files(user_id, sub, order, 10, None)
        assert sorted(r.id for r in listed) == sorted([ids["B.txt"], ids["c.png"], late])
        paged, after = [], None
        while page := await mongo_storage.list_files(user_id, sub, order, 1, after):
            paged.append(page[0].id)
            after = position_of(page[0], order)
        assert paged == [r.id for r in listed], order
    by_name = await mongo_storage.list_files(user_id, sub, Order("name"), 10, None)
    assert [r.name for r in by_name] == ["a-late.txt", "B.txt", "c.png"]
    record = by_name[1]
    assert (record.size, record.sha256, record.mime_type, record.trashed_at) == (None, None, None, None)
    assert record.created_at == record.updated_at == ObjectId(ids["B.txt"]).generation_time.timestamp()
    root = await mongo_storage.list_files(user_id, ROOT, Order(), 10, None)
    assert [r.name for r in root] == ["top", "loose.txt"]  # folders first; both root spellings
    assert root[1].parent_id == "0"
    await assert_original_types(raw_db)


async def test_the_originals_files_are_searched(mongo_storage: Storage, raw_db) -> None:
    user_id = await original_user(raw_db)
    ids = await original_tree(raw_db, user_id)
    found = await mongo_storage.search_files(user_id, ".TXT", Order(), 10, None)
    assert [r.name for r in found] == ["a.txt", "B.txt", "loose.txt"]
    assert [r.id for r in await mongo_storage.search_files(user_id, "su", Order(), 10, None)] == [ids["sub"]]
    await assert_original_types(raw_db)


async def test_the_originals_files_are_moved_and_renamed(mongo_storage: Storage, raw_db) -> None:
    user_id = await original_user(raw_db)
    ids = await original_tree(raw_db, user_id)
    moved = await mongo_storage.update_file(user_id, ids["loose.txt"], parent_id=ids["sub"], name="Zed.txt",
                                            now=5000.0)
    assert (moved.parent_id, moved.name, moved.updated_at) == (ids["sub"], "Zed.txt", 5000.0)
    assert moved.created_at == ObjectId(ids["loose.txt"]).generation_time.timestamp()
    # The original's documents have no v1 position: they come first, by id; the moved one last.
    assert [r.id for r in await mongo_storage.children(user_id, ids["sub"], 0)] == \
        [ids["B.txt"], ids["c.png"], ids["loose.txt"]]
    assert [r.name for r in await mongo_storage.search_files(user_id, "zed", Order(), 10, None)] == ["Zed.txt"]
    doc = await raw_db.files.find_one({"_id": ObjectId(ids["loose.txt"])})
    assert (doc["parentId"], doc["name"], doc["nameKey"]) == (ObjectId(ids["sub"]), "Zed.txt", "zed.txt")
    await assert_original_types(raw_db)


async def test_the_originals_tree_is_trashed_restored_and_purged(mongo_storage: Storage, raw_db) -> None:
    user_id = await original_user(raw_db)
    ids = await original_tree(raw_db, user_id)
    top = await mongo_storage.trash_file(user_id, ids["top"], now=1000.0)
    assert (top.trashed_at, top.trash_id) == (1000.0, ids["top"])
    for name in ("top", "a.txt", "sub", "B.txt", "c.png"):
        assert await mongo_storage.file_of_user(user_id, ids[name]) is None
    assert [r.id for r in await mongo_storage.children(user_id, ROOT, 0)] == [ids["loose.txt"]]
    assert [r.name for r in await mongo_storage.search_files(user_id, "t", Order(), 10, None)] == ["loose.txt"]
    assert [r.id for r in await mongo_storage.trashed_files(user_id, 10, None)] == [ids["top"]]
    await assert_original_types(raw_db)

    restored = await mongo_storage.restore_file(user_id, ids["top"], now=2000.0)
    assert (restored.parent_id, restored.trashed_at) == (ROOT, None)
    assert [r.id for r in await mongo_storage.children(user_id, ids["sub"], 0)] == [ids["B.txt"], ids["c.png"]]
    assert await raw_db.files.count_documents({"trashedAt": {"$exists": True}}) == 0
    await assert_original_types(raw_db)

    paths = await mongo_storage.purge_file(user_id, ids["top"])
    assert sorted(paths) == sorted(f"/tmp/files_manager/{n}" for n in ("a.txt", "B.txt", "c.png"))
    assert [doc["name"] async for doc in raw_db.files.find({})] == ["loose.txt"]
    assert (await mongo_storage.usage(user_id)).used_bytes == 0  # their sizes were never known


async def test_strings_for_ids_from_other_clients_in_the_trash(mongo_storage: Storage, raw_db) -> None:
    user_id = await original_user(raw_db)
    folder = str((await raw_db.files.insert_one(
        {"userId": user_id, "name": "d", "type": "folder", "isPublic": False, "parentId": 0})).inserted_id)
    inside = str((await raw_db.files.insert_one(
        {"userId": user_id, "name": "s.txt", "type": "file", "isPublic": False, "parentId": folder,
         "localPath": "/tmp/s"})).inserted_id)
    await mongo_storage.trash_file(user_id, folder, now=1.0)
    assert await mongo_storage.file_of_user(user_id, inside) is None
    await mongo_storage.restore_file(user_id, folder, now=2.0)
    assert (await mongo_storage.file_of_user(user_id, inside)).parent_id == folder
    doc = await raw_db.files.find_one({"_id": ObjectId(inside)})
    assert (doc["userId"], doc["parentId"]) == (user_id, folder)  # left as the other client wrote them
    assert await mongo_storage.purge_file(user_id, folder) == ["/tmp/s"]
    assert await raw_db.files.count_documents({}) == 0


async def test_open_gives_the_originals_files_their_keys(mongo_db_url: str, raw_db) -> None:
    user_id = await original_user(raw_db)
    file_id = await original_file(raw_db, user_id, "Äpfel.TXT")
    storage = await open_storage(mongo_db_url)
    try:
        doc = await raw_db.files.find_one({"_id": ObjectId(file_id)})
        when = ObjectId(file_id).generation_time.timestamp()
        assert {k: doc[k] for k in ("nameKey", "kind", "sizeKey", "createdAt", "updatedAt")} == \
            {"nameKey": "äpfel.txt", "kind": 1, "sizeKey": 0, "createdAt": when, "updatedAt": when}
        assert "size" not in doc and "trashedAt" not in doc
    finally:
        await storage.close()


async def test_a_user_of_the_original_gets_counters_on_first_use(mongo_storage: Storage, raw_db) -> None:
    user_id = await original_user(raw_db)
    user = await mongo_storage.user_by_id(user_id)
    assert (user.created_at, user.quota_bytes) == (ObjectId(user_id).generation_time.timestamp(), None)
    assert await mongo_storage.usage(user_id) == Usage(0, 0, None)
    await mongo_storage.create_file(NewFile(user_id, "x", "file", False, ROOT, "/tmp/x", size=60), 100)
    with pytest.raises(QuotaExceeded):
        await mongo_storage.create_file(NewFile(user_id, "y", "file", False, ROOT, "/tmp/y", size=41), 100)
    doc = await raw_db.users.find_one({"_id": ObjectId(user_id)})
    assert (doc["email"], doc["password"], doc["usedBytes"]) == ("bob@dylan.com", "sha1", 60)
    # Over a lowered quota: adding nothing (a folder) is still allowed, adding a byte is not.
    await mongo_storage.create_file(NewFile(user_id, "d", "folder", False, ROOT, None), 50)
    with pytest.raises(QuotaExceeded):
        await mongo_storage.create_file(NewFile(user_id, "z", "file", False, ROOT, "/tmp/z", size=1), 50)
    assert (await mongo_storage.usage(user_id)).used_bytes == 60


# ---------------------------------------------------------------- no transactions: racing writes


async def test_racing_creates_never_pass_the_quota(mongo_storage: Storage) -> None:
    user = await mongo_storage.create_user("a@example.com", "h")
    made = await asyncio.gather(
        *(mongo_storage.create_file(NewFile(user.id, f"f{n}", "file", False, ROOT, f"/tmp/{n}", size=10), 95)
          for n in range(20)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in made) == 9
    assert all(isinstance(r, QuotaExceeded) for r in made if isinstance(r, BaseException))
    assert (await mongo_storage.usage(user.id)).used_bytes == 90
    assert await mongo_storage.count_files() == 9


# ---------------------------------------------------------------- a crash between two writes


async def test_an_interrupted_trash_is_finished_by_trashing_again(mongo_storage: Storage, raw_db) -> None:
    user_id = await original_user(raw_db)
    ids = await original_tree(raw_db, user_id)
    top = ObjectId(ids["top"])
    # What a crash after marking the deepest level leaves: the top still live.
    await raw_db.files.update_many({"_id": {"$in": [ObjectId(ids["B.txt"]), ObjectId(ids["c.png"])]}},
                                   {"$set": {"trashedAt": 1.0, "trashId": top}})
    assert await mongo_storage.file_of_user(user_id, ids["top"]) is not None
    assert await mongo_storage.children(user_id, ids["sub"], 0) == []  # hidden, not lost
    assert await mongo_storage.trashed_files(user_id, 10, None) == []

    await mongo_storage.trash_file(user_id, ids["top"], now=2.0)
    assert [r.id for r in await mongo_storage.trashed_files(user_id, 10, None)] == [ids["top"]]
    await mongo_storage.restore_file(user_id, ids["top"], now=3.0)
    for name in ("top", "a.txt", "sub", "B.txt", "c.png"):
        assert await mongo_storage.file_of_user(user_id, ids[name]) is not None, name


async def test_an_interrupted_restore_is_finished_by_restoring_again(mongo_storage: Storage, raw_db) -> None:
    user_id = await original_user(raw_db)
    ids = await original_tree(raw_db, user_id)
    await mongo_storage.trash_file(user_id, ids["top"], now=1.0)
    # What a crash after bringing back part of what is below the top leaves.
    await raw_db.files.update_one({"_id": ObjectId(ids["a.txt"])},
                                  {"$unset": {"trashedAt": "", "trashId": ""}})
    assert [r.id for r in await mongo_storage.trashed_files(user_id, 10, None)] == [ids["top"]]
    await mongo_storage.restore_file(user_id, ids["top"], now=2.0)
    for name in ("top", "a.txt", "sub", "B.txt", "c.png"):
        assert await mongo_storage.file_of_user(user_id, ids[name]) is not None, name
    with pytest.raises(NotFound):
        await mongo_storage.restore_file(user_id, ids["top"], now=3.0)


async def test_an_interrupted_purge_is_finished_by_purging_again(mongo_storage: Storage, raw_db) -> None:
    user = await mongo_storage.create_user("a@example.com", "h")
    top = await mongo_storage.create_file(NewFile(user.id, "top", "folder", False, ROOT, None))
    files = [await mongo_storage.create_file(NewFile(user.id, f"f{n}", "file", False, top.id, f"/tmp/{n}",
                                                     size=5)) for n in range(3)]
    # What a crash after deleting one file leaves: its bytes still counted.
    await raw_db.files.delete_one({"_id": ObjectId(files[0].id)})
    assert (await mongo_storage.usage(user.id)).used_bytes == 15
    assert sorted(await mongo_storage.purge_file(user.id, top.id)) == ["/tmp/1", "/tmp/2"]
    assert await raw_db.files.count_documents({}) == 0
    assert (await mongo_storage.usage(user.id)).used_bytes == 5
    assert isinstance(mongo_storage, MongoStorage)
    assert (await mongo_storage.recount_usage(user.id)).used_bytes == 0


async def test_finish_upload_after_a_crash_that_followed_the_claim(mongo_storage: Storage, raw_db) -> None:
    user = await mongo_storage.create_user("a@example.com", "h")
    now = time.time()
    upload = await mongo_storage.create_upload(
        Upload(new_id(), user.id, 30, 30, "up.bin", ROOT, False, "/tmp/up.part", now, now + 60), 100)
    claim = ObjectId()
    await raw_db.uploads.update_one({"_id": ObjectId(upload.id)}, {"$set": {"claim": claim}})
    assert (await mongo_storage.upload_of_user(user.id, upload.id)).file_id is None  # not before the file

    new = NewFile(user.id, "up.bin", "file", False, ROOT, "/tmp/blob", size=30, sha256="0" * 64,
                  mime_type="application/octet-stream")
    record = await mongo_storage.finish_upload(upload.id, new, now=now)
    assert record.id == str(claim)
    assert await mongo_storage.finish_upload(upload.id, new, now=now + 1) == record
    assert (await mongo_storage.upload_of_user(user.id, upload.id)).file_id == record.id
    usage = await mongo_storage.usage(user.id)
    assert (usage.used_bytes, usage.reserved_bytes) == (30, 0)
    assert await mongo_storage.count_files() == 1


async def test_racing_deletions_of_one_tree_restore_whole(mongo_storage: Storage, raw_db) -> None:
    """Each walk marks what is still live; whatever lost the race for a top
    joins the deletion that won it, so restoring what the trash lists brings
    every item back, and nothing is left hidden."""
    user = await mongo_storage.create_user("a@example.com", "h")

    async def tree() -> tuple[str, str, list[str]]:
        top = await mongo_storage.create_file(NewFile(user.id, "top", "folder", False, ROOT, None))
        mid = await mongo_storage.create_file(NewFile(user.id, "mid", "folder", False, top.id, None))
        leaves = [await mongo_storage.create_file(NewFile(user.id, f"l{n}", "file", False, parent, f"/tmp/{n}"))
                  for n, parent in enumerate([top.id, mid.id, mid.id, mid.id])]
        return top.id, mid.id, [top.id, mid.id, *(leaf.id for leaf in leaves)]

    for first, second in (("top", "top"), ("top", "mid"), ("mid", "top")):
        top, mid, ids = await tree()
        targets = {"top": top, "mid": mid}
        results = await asyncio.gather(mongo_storage.trash_file(user.id, targets[first], now=1.0),
                                       mongo_storage.trash_file(user.id, targets[second], now=2.0),
                                       return_exceptions=True)
        assert not all(isinstance(r, BaseException) for r in results)
        assert all(isinstance(r, NotFound) for r in results if isinstance(r, BaseException))
        assert all([await mongo_storage.file_of_user(user.id, i) is None for i in ids])
        for deleted in await mongo_storage.trashed_files(user.id, 10, None):
            await mongo_storage.restore_file(user.id, deleted.id, now=3.0)
        assert all([await mongo_storage.file_of_user(user.id, i) is not None for i in ids]), (first, second)
        assert await raw_db.files.count_documents({"trashedAt": {"$ne": None}}) == 0
        await mongo_storage.purge_file(user.id, top)


class _Then(monitoring.CommandListener):
    """Runs `then` (another client's writes) right after each `command` succeeds,
    until it says it is done (True): a racing request's writes, at a chosen
    point of ours."""

    def __init__(self, command: str, then) -> None:
        self.command, self.then = command, then

    def started(self, event) -> None:
        pass

    def succeeded(self, event) -> None:
        if event.command_name == self.command and self.then is not None and self.then():
            self.then = None

    def failed(self, event) -> None:
        pass


@contextlib.asynccontextmanager
async def racing(url: str, db_name: str, command: str, then) -> AsyncIterator[MongoStorage]:
    """A storage whose `command`s are followed at once by `then` (until it is done)."""
    client: AsyncMongoClient = AsyncMongoClient(url, event_listeners=[_Then(command, then)])
    storage = MongoStorage(client, db_name)
    try:
        yield storage
    finally:
        await storage.close()


def raw_files(url: str):
    return MongoClient(url).get_default_database().files


async def test_a_deletion_that_loses_its_top_joins_the_winner(mongo_db_url: str, raw_db) -> None:
    """trash_file(mid) has marked what is below mid when trash_file(top),
    elsewhere, takes mid (and top) first: what mid's deletion marked goes
    with top's, so restoring top brings everything back."""
    storage = await open_storage(mongo_db_url)
    try:
        user = await storage.create_user("a@example.com", "h")
        top = await storage.create_file(NewFile(user.id, "top", "folder", False, ROOT, None))
        mid = await storage.create_file(NewFile(user.id, "mid", "folder", False, top.id, None))
        leaves = [await storage.create_file(NewFile(user.id, f"l{n}", "file", False, mid.id, f"/tmp/{n}"))
                  for n in range(3)]
    finally:
        await storage.close()

    def winner_marks_top_and_mid() -> bool:  # what trash_file(top) leaves, its walk past mid
        files = raw_files(mongo_db_url)
        files.update_one({"_id": ObjectId(mid.id)}, {"$set": {"trashedAt": 1.0, "trashId": ObjectId(top.id)}})
        files.update_one({"_id": ObjectId(top.id)},
                         {"$set": {"trashedAt": 1.0, "trashId": ObjectId(top.id), "trashTop": True}})
        files.database.client.close()
        return True

    async with racing(mongo_db_url, raw_db.name, "update", winner_marks_top_and_mid) as loser:
        with pytest.raises(NotFound):
            await loser.trash_file(user.id, mid.id, now=2.0)
        assert await loser.file_of_user(user.id, leaves[0].id) is None
        assert [r.id for r in await loser.trashed_files(user.id, 10, None)] == [top.id]
        await loser.restore_file(user.id, top.id, now=3.0)
        for record in (top, mid, *leaves):
            assert await loser.file_of_user(user.id, record.id) is not None, record.name


async def test_a_file_created_in_a_folder_during_its_deletion_is_trashed_too(
    mongo_db_url: str, mongo_storage: Storage, raw_db
) -> None:
    """A create_file that checked its folder before the walk reached it, and
    inserted after (its second check found the folder still live): the walk
    after the top is marked finds it."""
    user = await mongo_storage.create_user("a@example.com", "h")
    top = await mongo_storage.create_file(NewFile(user.id, "top", "folder", False, ROOT, None))
    mid = await mongo_storage.create_file(NewFile(user.id, "mid", "folder", False, top.id, None))
    late: list[str] = []

    def create_in_mid() -> bool:  # after the walk read mid's (empty) content, before mid is marked
        files = raw_files(mongo_db_url)
        late.append(str(files.insert_one({"userId": ObjectId(user.id), "name": "late", "type": "file",
                                          "isPublic": False, "parentId": ObjectId(mid.id),
                                          "localPath": "/tmp/late"}).inserted_id))
        files.database.client.close()
        return True

    async with racing(mongo_db_url, raw_db.name, "update", create_in_mid) as storage:
        await storage.trash_file(user.id, top.id, now=1.0)
    assert late and await mongo_storage.file_of_user(user.id, late[0]) is None
    assert (await mongo_storage.file_with_trashed(user.id, late[0])).trash_id == top.id
    await mongo_storage.restore_file(user.id, top.id, now=2.0)
    assert (await mongo_storage.file_of_user(user.id, late[0])).parent_id == mid.id


async def test_create_file_into_a_folder_trashed_meanwhile_leaves_nothing(
    mongo_db_url: str, mongo_storage: Storage, raw_db
) -> None:
    user = await mongo_storage.create_user("a@example.com", "h")
    docs = await mongo_storage.create_file(NewFile(user.id, "docs", "folder", False, ROOT, None))

    def trash_docs() -> bool:  # after the first check of the folder and the charge
        files = raw_files(mongo_db_url)
        files.update_one({"_id": ObjectId(docs.id)},
                         {"$set": {"trashedAt": 1.0, "trashId": ObjectId(docs.id), "trashTop": True}})
        files.database.client.close()
        return True

    async with racing(mongo_db_url, raw_db.name, "findAndModify", trash_docs) as storage:
        with pytest.raises(Invalid) as refused:
            await storage.create_file(NewFile(user.id, "x", "file", False, docs.id, "/tmp/x", size=7), 100)
    assert refused.value.message == "Parent not found"
    assert await mongo_storage.count_files() == 1
    assert (await mongo_storage.usage(user.id)).used_bytes == 0


async def test_a_move_into_a_folder_trashed_meanwhile_is_undone(
    mongo_db_url: str, mongo_storage: Storage, raw_db
) -> None:
    user = await mongo_storage.create_user("a@example.com", "h")
    docs = await mongo_storage.create_file(NewFile(user.id, "docs", "folder", False, ROOT, None))
    record = await mongo_storage.create_file(NewFile(user.id, "f", "file", False, ROOT, "/tmp/f", size=1))
    before = await raw_db.files.find_one({"_id": ObjectId(record.id)})

    def trash_docs() -> bool:  # once the move is written (not after taking the v1 position)
        files = raw_files(mongo_db_url)
        moved = files.find_one({"_id": ObjectId(record.id), "parentId": ObjectId(docs.id)}) is not None
        if moved:
            files.update_one({"_id": ObjectId(docs.id)},
                             {"$set": {"trashedAt": 1.0, "trashId": ObjectId(docs.id), "trashTop": True}})
        files.database.client.close()
        return moved

    async with racing(mongo_db_url, raw_db.name, "findAndModify", trash_docs) as storage:
        with pytest.raises(Invalid) as refused:
            await storage.update_file(user.id, record.id, parent_id=docs.id, name="g", now=5.0)
    assert refused.value.message == "Parent not found"
    assert await raw_db.files.find_one({"_id": ObjectId(record.id)}) == before
