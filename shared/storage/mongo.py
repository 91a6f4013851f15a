"""MongoDB backend: a drop-in for the original Node service's database.

It reads and writes the original's layout exactly (see files-api.md, "Drop-in
for the original's data"), so an operator can point this service at the same
database: `users {_id, email, password}` and
`files {_id, userId, name, type, isPublic, parentId, localPath}` with
`parentId` the number 0 at the root.

Documents written by other tools are read leniently: the root may be the
string "0", `userId`/`parentId` may be hex strings instead of ObjectIds,
`isPublic` may be missing (private) and extra fields are ignored. Owner and
parent matches therefore use `$in: [ObjectId(x), x]`, which still uses the
indexes.

Fields are added beside the original's, never in place of them: on users
`emailKey` (the email as compared, under a unique sparse index, so the
database itself refuses a second account for one email; users written
without it are found by their exact email and get it at the next open,
mongo_setup.py), `createdAt`, `quotaBytes`, `disabled` (mongo_accounts.py)
and the counters of mongo_usage.py; on files v2's fields (mongo_docs.py); and the collections
`shareLinks` and `uploads`. The v2 methods live beside this module, one
module per area, each a mixin of MongoStorage. There are no multi-document
transactions: each write is made of single-document atomic updates, ordered
so a crash between two of them leaves nothing a user can see wrong (each
module says how).

Driver errors become domain errors in one place (mongo_docs.domain_error).
"""

from __future__ import annotations

import time
from typing import Any

import pymongo
from bson import ObjectId
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from ..config import redact
from ..errors import EmailTaken, Invalid, StorageUnavailable
from ..logging import get_logger
from .base import (
    PAGE_SIZE,
    PARENT_NOT_FOUND,
    FileRecord,
    NewFile,
    ParentId,
    User,
    blob_name,
    email_key,
    is_id,
    is_root,
    is_storable_text,
    new_object_id,
)
from .guard import domain_errors
from .mongo_accounts import MongoAccounts
from .mongo_docs import (
    LIVE,
    domain_error,
    file_record,
    id_variants,
    new_file_document,
    parent_match,
    user_record,
)
from .mongo_edits import MongoEdits
from .mongo_lists import MongoLists
from .mongo_scan import MongoScan
from .mongo_setup import EmailIndexes, legacy_match, prepare
from .mongo_shares import MongoShares
from .mongo_trash import MongoTrash
from .mongo_tree import parent_problem
from .mongo_uploads import MongoUploads
from .mongo_usage import MongoUsage, charge

__all__ = ["DEFAULT_DATABASE", "MongoStorage", "redact"]

log = get_logger("storage.mongo")

DEFAULT_DATABASE = "files_manager"

# Operations fail (503) after this long without a reachable server instead of
# pymongo's 30 s default; a URL that sets its own serverSelectionTimeoutMS wins.
_SERVER_SELECTION_MS = 5000
# GET /status must answer within about a second when MongoDB is down.
_PING_TIMEOUT = 0.8


@domain_errors(domain_error)
class MongoStorage(MongoUsage, MongoLists, MongoEdits, MongoTrash, MongoShares, MongoUploads, MongoScan,
                   MongoAccounts):
    def __init__(
        self, client: AsyncMongoClient, database_name: str, emails: EmailIndexes | None = None
    ) -> None:
        self._client = client
        db = client[database_name]
        self.database_name = database_name
        self._users = db["users"]
        self._files = db["files"]
        self._links = db["shareLinks"]
        self._uploads = db["uploads"]
        # Not all enforced on a legacy database: create_user checks before inserting then.
        self._emails = emails or EmailIndexes()

    @classmethod
    async def open(cls, url: str) -> MongoStorage:
        """Connect, check the server answers and create the indexes (idempotent).

        Raises StorageUnavailable naming the URL (without credentials) when no
        server answers within a bounded time, so a start never hangs."""
        # Our defaults only where the URL does not set its own (keyword options win over the URL's).
        options: dict[str, Any] = {}
        if "appname=" not in url.lower():
            options["appname"] = "files-manager"
        if "serverselectiontimeoutms=" not in url.lower():
            options["serverSelectionTimeoutMS"] = _SERVER_SELECTION_MS
        try:
            client: AsyncMongoClient = AsyncMongoClient(url, **options)
            database_name = client.get_default_database(default=DEFAULT_DATABASE).name
        except (PyMongoError, ValueError) as exc:
            raise StorageUnavailable(f"MongoDB at {redact(url)}: {exc}") from None
        try:
            # Bounded by serverSelectionTimeoutMS (pymongo.timeout would override it).
            await client.admin.command("ping")
            emails = await prepare(client[database_name])
        except PyMongoError as exc:  # unreachable, or refused our credentials
            await client.close()
            raise StorageUnavailable(f"MongoDB at {redact(url)} does not answer: {exc}") from None
        except BaseException:
            await client.close()
            raise
        log.info("storage.mongo.open", url=redact(url), database=database_name)
        return cls(client, database_name, emails)

    async def ping(self, timeout: float = _PING_TIMEOUT) -> bool:
        try:
            with pymongo.timeout(timeout):
                await self._client.admin.command("ping")
            return True
        except PyMongoError:
            return False

    async def close(self) -> None:
        await self._client.close()

    # users

    async def create_user(self, email: str, password_hash: str) -> User:
        key = email_key(email)
        if not self._emails.enforced and await self._email_in_use(email, key):
            raise EmailTaken()
        oid = new_object_id()
        now = time.time()
        try:  # the original's fields, in its order, then ours
            await self._users.insert_one(
                {"_id": oid, "email": email, "password": password_hash, "emailKey": key,
                 "createdAt": now, "usedBytes": 0, "reservedBytes": 0, "lastSeq": 0}
            )
        except DuplicateKeyError:  # emailKey_1 (or email_1): the database decides, races included
            raise EmailTaken() from None
        return User(id=str(oid), email=email, password_hash=password_hash, created_at=now)

    async def _email_in_use(self, email: str, key: str) -> bool:
        """For a legacy database whose indexes do not enforce it all (EmailIndexes)."""
        clauses: list[dict[str, Any]] = [{"emailKey": key}, {"email": email}]
        if not self._emails.keys_complete:
            clauses.append(legacy_match(email))
        return await self._users.find_one({"$or": clauses}, {"_id": 1}) is not None

    async def delete_user(self, user_id: str) -> None:
        if is_id(user_id):
            await self._users.delete_one({"_id": ObjectId(user_id)})

    async def user_by_id(self, user_id: str) -> User | None:
        if not is_id(user_id):
            return None
        return user_record(await self._users.find_one({"_id": ObjectId(user_id)}))

    async def user_by_email(self, email: str) -> User | None:
        if not is_storable_text(email):
            return None  # never let a non-string become a query operator; nothing stored matches
        # The exact email first: users written without emailKey, and legacy ones
        # differing only in case, of which only one holds the key.
        doc = await self._users.find_one({"email": email}, sort=[("_id", 1)])
        if doc is None:
            doc = await self._users.find_one({"emailKey": email_key(email)})
        return user_record(doc)

    async def set_password_hash(self, user_id: str, old_hash: str, new_hash: str) -> bool:
        if not is_id(user_id):
            return False
        result = await self._users.update_one(
            {"_id": ObjectId(user_id), "password": old_hash}, {"$set": {"password": new_hash}}
        )
        return result.matched_count == 1

    async def count_users(self) -> int:
        # Exact (the spec counts every document); the metadata estimate can drift after a crash.
        return await self._users.count_documents({})

    # files

    async def create_file(self, new: NewFile, quota: int | None = None) -> FileRecord:
        """Charged first, then inserted, then the parent checked again: an
        insert racing the parent's trashing or purging is undone, as the
        trash walk (mongo_trash.py) may have passed that folder already. A
        crash between the charge and the insert leaves bytes counted that
        are not there (mongo_usage.py)."""
        if (problem := await parent_problem(self._files, new.user_id, new.parent_id)) is not None:
            raise Invalid(problem)
        size = 0 if new.type == "folder" else new.size or 0
        seq = await charge(self._users, new.user_id, used=size, quota=quota, seq=True)
        oid = new_object_id()
        doc = new_file_document(new, oid, seq, time.time())
        try:
            await self._files.insert_one(doc)
        except BaseException:
            await charge(self._users, new.user_id, used=-size)
            raise
        if not is_root(new.parent_id) and await parent_problem(self._files, new.user_id, new.parent_id):
            await self._files.delete_one({"_id": oid})
            await charge(self._users, new.user_id, used=-size)
            raise Invalid(PARENT_NOT_FOUND)
        return file_record(doc)

    async def delete_file(self, user_id: str, file_id: str) -> None:
        if not (is_id(user_id) and is_id(file_id)):
            return
        doc = await self._files.find_one_and_delete(
            {"_id": ObjectId(file_id), "userId": id_variants(user_id)}, projection={"size": 1}
        )
        size = None if doc is None else doc.get("size")
        if isinstance(size, int) and size:
            await charge(self._users, user_id, used=-size)

    async def file_of_user(self, user_id: str, file_id: str) -> FileRecord | None:
        if not (is_id(user_id) and is_id(file_id)):
            return None
        doc = await self._files.find_one({"_id": ObjectId(file_id), "userId": id_variants(user_id), **LIVE})
        return None if doc is None else file_record(doc)

    async def file_with_trashed(self, user_id: str, file_id: str) -> FileRecord | None:
        if not (is_id(user_id) and is_id(file_id)):
            return None
        doc = await self._files.find_one({"_id": ObjectId(file_id), "userId": id_variants(user_id)})
        return None if doc is None else file_record(doc)

    async def file_readable_by(self, user_id: str | None, file_id: str) -> FileRecord | None:
        if not is_id(file_id):
            return None
        query: dict[str, Any] = {"_id": ObjectId(file_id), **LIVE}
        if user_id is not None and is_id(user_id):
            query["$or"] = [{"isPublic": True}, {"userId": id_variants(user_id)}]
        else:
            query["isPublic"] = True
        doc = await self._files.find_one(query)
        return None if doc is None else file_record(doc)

    async def children(self, user_id: str, parent_id: ParentId, page: int) -> list[FileRecord]:
        """By seq (the original's documents have none and come first, by id)."""
        parent = parent_match(parent_id)
        if not is_id(user_id) or parent is None:
            return []
        cursor = (
            self._files.find({"userId": id_variants(user_id), "parentId": parent, **LIVE})
            .sort([("seq", 1), ("_id", 1)])
            .skip(max(page, 0) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
        return [file_record(doc) async for doc in cursor]

    async def set_public(self, user_id: str, file_id: str, is_public: bool) -> FileRecord | None:
        if not (is_id(user_id) and is_id(file_id)):
            return None
        doc = await self._files.find_one_and_update(
            {"_id": ObjectId(file_id), "userId": id_variants(user_id), **LIVE},
            {"$set": {"isPublic": bool(is_public)}},
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else file_record(doc)

    async def count_files(self) -> int:
        return await self._files.count_documents({})

    # orphan blobs: the job worker's sweep (services/worker/sweeper.py)
    async def blobs_in_use(self, names: set[str]) -> tuple[set[str], int]:
        in_use: set[str] = set()
        total = 0
        # Only the paths, in large batches: the loop is free between batches.
        cursor = self._files.find({"localPath": {"$exists": True}}, {"_id": 0, "localPath": 1},
                                  batch_size=2000)
        async for doc in cursor:
            path = doc.get("localPath")
            if not isinstance(path, str):
                continue
            total += 1
            name = blob_name(path)
            if name in names:
                in_use.add(name)
        return in_use, total
