"""MongoDB only: the original's data, written straight into the database with
pymongo in the shapes the Node service and other tools left behind, reads
correctly; what we write has the original's shape; start-up and ping are bounded.
"""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from bson import Int64, ObjectId
from pymongo import AsyncMongoClient

from shared.errors import EmailTaken, StorageUnavailable
from shared.storage import ROOT, FileRecord, NewFile, Storage, open_storage
from shared.storage.mongo import MongoStorage, redact
from tests.conftest import free_port


def sha1(password: str) -> str:
    return hashlib.sha1(password.encode()).hexdigest()


async def insert_user(raw_db, email: str = "bob@dylan.com", password: str = "toto1234!") -> str:
    result = await raw_db.users.insert_one({"email": email, "password": sha1(password)})
    return str(result.inserted_id)


async def insert_file(raw_db, **fields) -> str:
    result = await raw_db.files.insert_one(fields)
    return str(result.inserted_id)


def legacy(file_id: str, *fields, created_at: float | None = None) -> FileRecord:
    """A document of the original as read: none of v2's fields, so its times
    are its id's, its size, hash and MIME type unknown, and it is live."""
    when = float(ObjectId(file_id).generation_time.timestamp()) if created_at is None else created_at
    return FileRecord(file_id, *fields, created_at=when, updated_at=when)


# ------------------------------------------------------------ the original's users


async def test_sha1_user_of_the_original_is_read_and_rehashed(
    mongo_storage: Storage, raw_db
) -> None:
    user_id = await insert_user(raw_db)
    user = await mongo_storage.user_by_email("bob@dylan.com")
    assert user is not None
    assert (user.id, user.password_hash) == (user_id, sha1("toto1234!"))
    assert await mongo_storage.user_by_id(user_id) == user

    assert await mongo_storage.set_password_hash(user_id, sha1("toto1234!"), "$argon2id$new") is True
    doc = await raw_db.users.find_one({"_id": ObjectId(user_id)})
    assert doc == {"_id": ObjectId(user_id), "email": "bob@dylan.com", "password": "$argon2id$new"}


async def test_user_document_with_extra_fields_is_read(mongo_storage: Storage, raw_db) -> None:
    result = await raw_db.users.insert_one(
        {"email": "x@example.com", "password": sha1("p"), "createdAt": 12, "__v": 0, "tags": ["a"]}
    )
    user = await mongo_storage.user_by_id(str(result.inserted_id))
    assert user is not None and user.email == "x@example.com"


async def test_users_we_write_have_the_original_shape(mongo_storage: Storage, raw_db) -> None:
    """The original's fields, in its order, then ours: emailKey (what emails
    are compared by), the creation time and the counters of mongo_usage."""
    user = await mongo_storage.create_user(" New@Example.com", "$argon2id$h")
    doc = await raw_db.users.find_one({"email": " New@Example.com"})
    assert list(doc.items()) == [("_id", ObjectId(user.id)), ("email", " New@Example.com"),
                                 ("password", "$argon2id$h"), ("emailKey", "new@example.com"),
                                 ("createdAt", user.created_at), ("usedBytes", 0),
                                 ("reservedBytes", 0), ("lastSeq", 0)]


# ------------------------------------------------------------ the original's files


async def test_files_of_the_original_are_read(mongo_storage: Storage, raw_db) -> None:
    user_id = await insert_user(raw_db)
    owner = ObjectId(user_id)
    folder_id = await insert_file(raw_db, userId=owner, name="images", type="folder",
                                  isPublic=False, parentId=0)
    file_id = await insert_file(raw_db, userId=owner, name="image.png", type="image",
                                isPublic=True, parentId=ObjectId(folder_id),
                                localPath="/tmp/files_manager/5f1e-uuid")

    folder = await mongo_storage.file_of_user(user_id, folder_id)
    assert folder == legacy(folder_id, user_id, "images", "folder", False, ROOT, None)
    image = await mongo_storage.file_of_user(user_id, file_id)
    assert image == legacy(file_id, user_id, "image.png", "image", True, folder_id,
                               "/tmp/files_manager/5f1e-uuid")
    assert await mongo_storage.children(user_id, ROOT, 0) == [folder]
    assert await mongo_storage.children(user_id, folder_id, 0) == [image]
    assert await mongo_storage.file_readable_by(None, file_id) == image


async def test_string_zero_root_is_the_root_and_returned_as_stored(
    mongo_storage: Storage, raw_db
) -> None:
    user_id = await insert_user(raw_db)
    owner = ObjectId(user_id)
    numeric = await insert_file(raw_db, userId=owner, name="a", type="file", isPublic=False,
                                parentId=0, localPath="/tmp/a")
    text = await insert_file(raw_db, userId=owner, name="b", type="file", isPublic=False,
                             parentId="0", localPath="/tmp/b")
    as_long = await insert_file(raw_db, userId=owner, name="c", type="file", isPublic=False,
                                parentId=Int64(0), localPath="/tmp/c")

    record = await mongo_storage.file_of_user(user_id, text)
    assert record is not None and record.parent_id == "0"
    for root in (ROOT, "0"):
        listed = await mongo_storage.children(user_id, root, 0)
        assert [f.id for f in listed] == [numeric, text, as_long]
        assert [f.parent_id for f in listed] == [0, "0", 0]


async def test_paging_across_both_root_spellings(mongo_storage: Storage, raw_db) -> None:
    user_id = await insert_user(raw_db)
    owner = ObjectId(user_id)
    ids = []
    for n in range(45):  # the two spellings interleaved, in creation order
        ids.append(await insert_file(raw_db, userId=owner, name=f"f{n}", type="file",
                                     isPublic=False, parentId="0" if n % 3 else 0,
                                     localPath=f"/tmp/{n}"))
    pages = [[f.id for f in await mongo_storage.children(user_id, ROOT, p)] for p in range(4)]
    assert [len(p) for p in pages] == [20, 20, 5, 0]
    assert [i for p in pages for i in p] == sorted(ids)


async def test_missing_is_public_means_private(mongo_storage: Storage, raw_db) -> None:
    user_id = await insert_user(raw_db)
    other_id = await insert_user(raw_db, "other@example.com")
    file_id = await insert_file(raw_db, userId=ObjectId(user_id), name="n.txt", type="file",
                                parentId=0, localPath="/tmp/n")
    record = await mongo_storage.file_of_user(user_id, file_id)
    assert record is not None and record.is_public is False
    assert await mongo_storage.file_readable_by(None, file_id) is None
    assert await mongo_storage.file_readable_by(other_id, file_id) is None
    assert await mongo_storage.file_readable_by(user_id, file_id) == record
    published = await mongo_storage.set_public(user_id, file_id, True)
    assert published is not None and published.is_public is True
    assert await mongo_storage.file_readable_by(None, file_id) == published


async def test_extra_fields_are_ignored(mongo_storage: Storage, raw_db) -> None:
    user_id = await insert_user(raw_db)
    file_id = await insert_file(raw_db, userId=ObjectId(user_id), name="x.txt", type="file",
                                isPublic=False, parentId=0, localPath="/tmp/x",
                                createdAt=1700000000, __v=0, meta={"k": [1, 2]})
    record = await mongo_storage.file_of_user(user_id, file_id)
    # A createdAt number written beside is read as ours (epoch seconds).
    assert record == legacy(file_id, user_id, "x.txt", "file", False, ROOT, "/tmp/x",
                            created_at=1700000000.0)
    assert await mongo_storage.children(user_id, ROOT, 0) == [record]


async def test_ids_stored_as_strings_by_other_clients(mongo_storage: Storage, raw_db) -> None:
    user_id = await insert_user(raw_db)
    other_id = await insert_user(raw_db, "other@example.com")
    folder_id = await insert_file(raw_db, userId=user_id, name="d", type="folder",
                                  isPublic=False, parentId=0)
    file_id = await insert_file(raw_db, userId=user_id, name="s.txt", type="file",
                                isPublic=False, parentId=folder_id, localPath="/tmp/s")

    record = await mongo_storage.file_of_user(user_id, file_id)
    assert record == legacy(file_id, user_id, "s.txt", "file", False, folder_id, "/tmp/s")
    assert await mongo_storage.file_of_user(other_id, file_id) is None
    assert [f.id for f in await mongo_storage.children(user_id, ROOT, 0)] == [folder_id]
    assert await mongo_storage.children(user_id, folder_id, 0) == [record]
    assert await mongo_storage.children(other_id, folder_id, 0) == []
    assert await mongo_storage.file_readable_by(user_id, file_id) == record
    assert await mongo_storage.file_readable_by(other_id, file_id) is None
    assert await mongo_storage.set_public(other_id, file_id, True) is None
    published = await mongo_storage.set_public(user_id, file_id, True)
    assert published is not None and published.is_public is True
    doc = await raw_db.files.find_one({"_id": ObjectId(file_id)})
    assert doc["userId"] == user_id  # left as the other client wrote it
    await mongo_storage.delete_file(user_id, file_id)
    assert await mongo_storage.file_of_user(user_id, file_id) is None


async def test_files_we_write_have_the_original_shape(mongo_storage: Storage, raw_db) -> None:
    user = await mongo_storage.create_user("bob@dylan.com", "h")
    folder = await mongo_storage.create_file(
        NewFile(user_id=user.id, name="docs", type="folder", is_public=False, parent_id="0",
                local_path=None))
    image = await mongo_storage.create_file(
        NewFile(user_id=user.id, name="a.png", type="image", is_public=True, parent_id=folder.id,
                local_path="/tmp/files_manager/uuid"))
    folder_doc = await raw_db.files.find_one({"_id": ObjectId(folder.id)})
    # The original's fields first, in its order and with its types, then ours.
    assert list(folder_doc.items())[:6] == [
        ("_id", ObjectId(folder.id)), ("userId", ObjectId(user.id)), ("name", "docs"),
        ("type", "folder"), ("isPublic", False), ("parentId", 0)]
    assert type(folder_doc["parentId"]) is int
    assert list(folder_doc.items())[6:] == [
        ("size", 0), ("createdAt", folder.created_at), ("updatedAt", folder.created_at),
        ("hasThumbnails", False), ("nameKey", "docs"), ("kind", 0), ("sizeKey", 0), ("seq", 1)]
    image_doc = await raw_db.files.find_one({"_id": ObjectId(image.id)})
    assert list(image_doc.items())[:7] == [
        ("_id", ObjectId(image.id)), ("userId", ObjectId(user.id)), ("name", "a.png"), ("type", "image"),
        ("isPublic", True), ("parentId", ObjectId(folder.id)), ("localPath", "/tmp/files_manager/uuid")]
    # Size unknown (not given): no size, sorted as 0.
    assert list(image_doc.items())[7:] == [
        ("createdAt", image.created_at), ("updatedAt", image.created_at), ("hasThumbnails", False),
        ("nameKey", "a.png"), ("kind", 1), ("sizeKey", 0), ("seq", 2)]


async def test_counts_include_every_document(mongo_storage: Storage, raw_db) -> None:
    await insert_user(raw_db)
    await raw_db.users.insert_one({"whatever": True})
    await raw_db.files.insert_many([{"odd": 1}, {"name": "n", "type": "file"}, {}])
    assert await mongo_storage.count_users() == 2
    assert await mongo_storage.count_files() == 3


# ------------------------------------------------------------ opening the database


async def test_open_creates_indexes_idempotently(mongo_db_url: str, raw_db) -> None:
    for _ in range(2):
        storage = await open_storage(mongo_db_url)
        assert await storage.ping() is True
        await storage.close()
    users = {i["name"]: i async for i in await raw_db.users.list_indexes()}
    assert users["email_1"]["unique"] is True and dict(users["email_1"]["key"]) == {"email": 1}
    # Unique, and sparse: users without emailKey (the original's) are not indexed.
    assert users["emailKey_1"]["unique"] is True and users["emailKey_1"]["sparse"] is True
    files = {i["name"]: dict(i["key"]) async for i in await raw_db.files.list_indexes()}
    assert files["v1_children"] == {"userId": 1, "parentId": 1, "trashedAt": 1, "seq": 1, "_id": 1}
    assert files["list_by_name"] == {"userId": 1, "parentId": 1, "trashedAt": 1, "kind": 1, "nameKey": 1,
                                     "_id": 1}
    assert files["trash_tops"] == {"userId": 1, "trashTop": 1, "trashedAt": 1, "_id": 1}
    links = {i["name"]: i async for i in await raw_db.shareLinks.list_indexes()}
    assert links["tokenHash_1"]["unique"] is True
    uploads = {i["name"]: dict(i["key"]) async for i in await raw_db.uploads.list_indexes()}
    assert uploads["expiresAt_1"] == {"expiresAt": 1}


async def test_database_comes_from_the_url(mongo_db_url: str, raw_db) -> None:
    storage = await open_storage(mongo_db_url)
    try:
        assert isinstance(storage, MongoStorage)
        assert storage.database_name == raw_db.name
        await storage.create_user("here@example.com", "h")
        assert await raw_db.users.count_documents({"email": "here@example.com"}) == 1
    finally:
        await storage.close()


async def test_legacy_duplicate_emails_warn_and_still_refuse_new_duplicates(
    mongo_db_url: str, raw_db, capsys: pytest.CaptureFixture[str]
) -> None:
    first = await insert_user(raw_db, "dup@example.com", "one")
    await insert_user(raw_db, "dup@example.com", "two")
    storage = await open_storage(mongo_db_url)
    try:
        events = [json.loads(line).get("event") for line in capsys.readouterr().out.splitlines()
                  if line.startswith("{")]
        assert "storage.mongo.duplicate_emails" in events
        assert (await storage.user_by_email("dup@example.com")).id == first
        with pytest.raises(EmailTaken):
            await storage.create_user("dup@example.com", "h")
        fresh = await storage.create_user("fresh@example.com", "h")
        assert (await storage.user_by_email("fresh@example.com")) == fresh
        with pytest.raises(EmailTaken):
            await storage.create_user("fresh@example.com", "h2")
        assert await storage.count_users() == 3
    finally:
        await storage.close()


# ------------------------------------------------------------ no server: bounded, never hangs
# These need no MongoDB at all: they point at a port where nothing listens.


async def test_open_fails_fast_and_names_the_url_without_credentials() -> None:
    url = f"mongodb://bob:s3cret@127.0.0.1:{free_port()}/fm?serverSelectionTimeoutMS=300"
    started = time.monotonic()
    with pytest.raises(StorageUnavailable) as caught:
        await open_storage(url)
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert f"127.0.0.1:{url.split(':')[3].split('/')[0]}" in message
    assert "s3cret" not in message and "bob" not in message


async def test_ping_is_false_within_a_second_when_mongo_is_down() -> None:
    client: AsyncMongoClient = AsyncMongoClient(f"mongodb://127.0.0.1:{free_port()}")
    storage = MongoStorage(client, "files_manager")
    try:
        started = time.monotonic()
        assert await storage.ping() is False
        assert time.monotonic() - started < 1.5
    finally:
        await storage.close()


def test_redact_hides_credentials_only() -> None:
    assert redact("mongodb://u:p@h1:1,h2:2/db?replicaSet=rs") == "mongodb://***@h1:1,h2:2/db?replicaSet=rs"
    assert redact("mongodb+srv://u:p@cluster.example.net/db") == "mongodb+srv://***@cluster.example.net/db"
    assert redact("mongodb://h:27017/db") == "mongodb://h:27017/db"


async def test_a_legacy_non_unique_email_index_still_refuses_duplicates(
    mongo_db_url: str, raw_db, capsys: pytest.CaptureFixture[str]
) -> None:
    await raw_db.users.create_index([("email", 1)], name="email_1")
    await insert_user(raw_db, "old@example.com")
    storage = await open_storage(mongo_db_url)
    try:
        events = [json.loads(line).get("event") for line in capsys.readouterr().out.splitlines()
                  if line.startswith("{")]
        assert "storage.mongo.index_failed" in events
        with pytest.raises(EmailTaken):
            await storage.create_user("old@example.com", "h")
        assert await storage.count_users() == 1
    finally:
        await storage.close()


# ------------------------------------------------------------ emails compared by emailKey


async def test_the_originals_users_get_an_email_key_at_open_and_match_any_case(
    mongo_db_url: str, raw_db
) -> None:
    bob = await insert_user(raw_db, "Bob@Dylan.com")
    odd = await raw_db.users.insert_one({"password": sha1("x")})  # no email at all: left alone
    storage = await open_storage(mongo_db_url)
    try:
        doc = await raw_db.users.find_one({"_id": ObjectId(bob)})
        assert doc == {"_id": ObjectId(bob), "email": "Bob@Dylan.com", "password": sha1("toto1234!"),
                       "emailKey": "bob@dylan.com"}
        assert await raw_db.users.find_one({"_id": odd.inserted_id}) == {"_id": odd.inserted_id,
                                                                        "password": sha1("x")}
        for spelling in ("Bob@Dylan.com", "bob@dylan.com", " BOB@DYLAN.COM "):
            user = await storage.user_by_email(spelling)
            assert user is not None and (user.id, user.email) == (bob, "Bob@Dylan.com")
        with pytest.raises(EmailTaken):
            await storage.create_user(" bob@dylan.COM", "h")
        assert await storage.count_users() == 2
    finally:
        await storage.close()


async def test_users_written_by_the_original_while_running_still_log_in(
    mongo_storage: Storage, raw_db
) -> None:
    """As the original's checkers do: a user inserted straight into MongoDB (no
    emailKey), then a login with that email."""
    user_id = await insert_user(raw_db, "Checker@Example.com")
    user = await mongo_storage.user_by_email("Checker@Example.com")
    assert user is not None and user.id == user_id
    with pytest.raises(EmailTaken):  # the exact email: users.email_1 refuses it
        await mongo_storage.create_user("Checker@Example.com", "h")


async def test_legacy_emails_differing_only_in_case(
    mongo_db_url: str, raw_db, capsys: pytest.CaptureFixture[str]
) -> None:
    older = await insert_user(raw_db, "Dup@Example.com", "one")
    younger = await insert_user(raw_db, "dup@example.com", "two")
    storage = await open_storage(mongo_db_url)
    try:
        events = [json.loads(line).get("event") for line in capsys.readouterr().out.splitlines()
                  if line.startswith("{")]
        assert "storage.mongo.duplicate_emails" in events
        # The older holds the key; the younger keeps the original's shape.
        assert (await raw_db.users.find_one({"_id": ObjectId(older)}))["emailKey"] == "dup@example.com"
        assert "emailKey" not in await raw_db.users.find_one({"_id": ObjectId(younger)})
        # Each logs in with its exact email; another spelling reaches the one with the key.
        assert (await storage.user_by_email("Dup@Example.com")).id == older
        assert (await storage.user_by_email("dup@example.com")).id == younger
        assert (await storage.user_by_email("DUP@EXAMPLE.COM")).id == older
        for spelling in ("dup@example.com", "DUP@example.com ", "Dup@Example.com"):
            with pytest.raises(EmailTaken):
                await storage.create_user(spelling, "h")
        assert await storage.count_users() == 2
    finally:
        await storage.close()


async def test_email_keys_of_a_large_legacy_database(mongo_db_url: str, raw_db) -> None:
    """The back-fill is bounded in time; what it has not reached yet is still
    checked at sign-up, and a later open finishes it."""
    from shared.storage.mongo_setup import EmailIndexes, backfill_email_keys

    await raw_db.users.insert_many(
        [{"email": f"Legacy{n}@Example.com", "password": sha1("p")} for n in range(250)]
    )
    await raw_db.users.create_index([("emailKey", 1)], name="emailKey_1", unique=True, sparse=True)
    # One batch, then out of time.
    assert await backfill_email_keys(raw_db.users, budget=0, batch_size=100) is False
    assert await raw_db.users.count_documents({"emailKey": {"$exists": True}}) == 100

    client: AsyncMongoClient = AsyncMongoClient(mongo_db_url)
    partial = MongoStorage(client, raw_db.name, EmailIndexes(keys_complete=False))
    try:
        for spelling in ("legacy249@example.com", " LEGACY150@example.COM", "legacy5@example.com"):
            with pytest.raises(EmailTaken):
                await partial.create_user(spelling, "h")
        assert (await partial.create_user("legacy250@example.com", "h")).email == "legacy250@example.com"
    finally:
        await partial.close()

    storage = await open_storage(mongo_db_url)  # a later start: every user gets its key
    try:
        assert await raw_db.users.count_documents({"emailKey": {"$exists": False}}) == 0
        assert (await storage.user_by_email("LEGACY249@example.com")).email == "Legacy249@Example.com"
    finally:
        await storage.close()
