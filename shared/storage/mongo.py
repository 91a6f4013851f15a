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
`(userId, parentId, _id)` index.

One field is added beside the original's: `users.emailKey`, the email as
compared (base.email_key: trimmed, case-folded), under a unique sparse index,
so the database itself refuses a second account for one email. Users written
without it (by the original, its checkers, other tools) are still found by
their exact email, and get it at the next open (mongo_setup.py).

Driver errors become domain errors in one place (`_domain_error`).
"""

from __future__ import annotations

from typing import Any

import pymongo
from bson import ObjectId
from bson.errors import BSONError
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from ..config import redact
from ..errors import EmailTaken, Invalid, StorageFull, StorageUnavailable
from ..logging import get_logger
from .base import (
    PAGE_SIZE,
    ROOT,
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
from .guard import domain_errors, unstorable_text
from .mongo_setup import EmailIndexes, legacy_match, prepare

log = get_logger("storage.mongo")

DEFAULT_DATABASE = "files_manager"

# Operations fail (503) after this long without a reachable server instead of
# pymongo's 30 s default; a URL that sets its own serverSelectionTimeoutMS wins.
_SERVER_SELECTION_MS = 5000
# GET /status must answer within about a second when MongoDB is down.
_PING_TIMEOUT = 0.8

_ROOT_VALUES: list[Any] = [0, "0"]

# MongoDB's OutOfDiskSpace, and what WiredTiger and Atlas say when out of room.
_OUT_OF_SPACE_CODES = frozenset({14031})
_OUT_OF_SPACE_TEXT = ("no space left on device", "over your space quota")


def _out_of_space(exc: PyMongoError) -> bool:
    codes = {getattr(exc, "code", None)}
    if isinstance(exc, BulkWriteError):
        codes |= {e.get("code") for e in exc.details.get("writeErrors", [])}
    text = str(exc).lower()
    return bool(codes & _OUT_OF_SPACE_CODES) or any(t in text for t in _OUT_OF_SPACE_TEXT)


def _domain_error(exc: Exception) -> Exception | None:
    """The domain error for a driver's exception (None: not one of ours to translate)."""
    if isinstance(exc, PyMongoError):
        if _out_of_space(exc):
            return StorageFull(f"MongoDB: {exc}")
        # Unreachable, timed out, no primary, refused our credentials, closed:
        # the database is not usable now, whatever the request.
        return StorageUnavailable(f"MongoDB: {exc}")
    if isinstance(exc, BSONError):  # a value BSON cannot hold (a document over 16 MiB)
        return Invalid(f"Invalid document: {exc}")
    return unstorable_text(exc)


def _id_variants(value: str) -> dict[str, list[Any]]:
    """Match an id stored as an ObjectId (ours, the original's) or as hex text (other clients)."""
    variants: list[Any] = [ObjectId(value), value.lower()]
    if value != value.lower():
        variants.append(value)
    return {"$in": variants}


def _str(value: Any) -> str:
    """A field as text; a missing one as the empty string."""
    return str(value) if value is not None else ""


def _parent_out(value: Any) -> ParentId:
    """The root as stored (0 or "0"); a parent id as its 24-hex text."""
    if value is None:
        return ROOT
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
        return ROOT  # int32, int64 or double zero: the Node driver writes any of them
    if isinstance(value, str):
        return value if value == "0" else value.lower() if is_id(value) else value
    return str(value)


def _file(doc: dict[str, Any]) -> FileRecord:
    type_ = _str(doc.get("type"))
    user_id = doc.get("userId")
    local_path = doc.get("localPath")
    return FileRecord(
        id=str(doc["_id"]),
        user_id=str(user_id).lower() if isinstance(user_id, str) and is_id(user_id) else _str(user_id),
        name=_str(doc.get("name")),
        type=type_,
        is_public=doc.get("isPublic") is True,  # missing (or not a boolean) means private
        parent_id=_parent_out(doc.get("parentId")),
        local_path=None if type_ == "folder" or local_path is None else str(local_path),
    )


def _user(doc: dict[str, Any] | None) -> User | None:
    if doc is None:
        return None
    return User(id=str(doc["_id"]), email=_str(doc.get("email")), password_hash=_str(doc.get("password")))


@domain_errors(_domain_error)
class MongoStorage:
    def __init__(
        self, client: AsyncMongoClient, database_name: str, emails: EmailIndexes | None = None
    ) -> None:
        self._client = client
        db = client[database_name]
        self.database_name = database_name
        self._users: AsyncCollection = db["users"]
        self._files: AsyncCollection = db["files"]
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

    async def ping(self) -> bool:
        try:
            with pymongo.timeout(_PING_TIMEOUT):
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
        try:  # the original's fields, in its order, then ours
            await self._users.insert_one(
                {"_id": oid, "email": email, "password": password_hash, "emailKey": key}
            )
        except DuplicateKeyError:  # emailKey_1 (or email_1): the database decides, races included
            raise EmailTaken() from None
        return User(id=str(oid), email=email, password_hash=password_hash)

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
        return _user(await self._users.find_one({"_id": ObjectId(user_id)}))

    async def user_by_email(self, email: str) -> User | None:
        if not is_storable_text(email):
            return None  # never let a non-string become a query operator; nothing stored matches
        # The exact email first: users written without emailKey, and legacy ones
        # differing only in case, of which only one holds the key.
        doc = await self._users.find_one({"email": email}, sort=[("_id", 1)])
        if doc is None:
            doc = await self._users.find_one({"emailKey": email_key(email)})
        return _user(doc)

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

    async def create_file(self, new: NewFile) -> FileRecord:
        oid = new_object_id()
        if is_root(new.parent_id):
            parent_out: ParentId = ROOT
            parent_stored: Any = ROOT
        elif is_id(new.parent_id):
            parent_out = str(new.parent_id).lower()
            parent_stored = ObjectId(parent_out)
        else:
            parent_out = parent_stored = str(new.parent_id)
        user_stored: Any = ObjectId(new.user_id) if is_id(new.user_id) else new.user_id
        # Field order as the original wrote it; folders have no localPath.
        doc: dict[str, Any] = {
            "_id": oid,
            "userId": user_stored,
            "name": new.name,
            "type": new.type,
            "isPublic": bool(new.is_public),
            "parentId": parent_stored,
        }
        if new.type != "folder" and new.local_path is not None:
            doc["localPath"] = new.local_path
        await self._files.insert_one(doc)
        return FileRecord(
            id=str(oid),
            user_id=str(user_stored),
            name=new.name,
            type=new.type,
            is_public=bool(new.is_public),
            parent_id=parent_out,
            local_path=doc.get("localPath"),
        )

    async def delete_file(self, user_id: str, file_id: str) -> None:
        if is_id(user_id) and is_id(file_id):
            await self._files.delete_one({"_id": ObjectId(file_id), "userId": _id_variants(user_id)})

    async def file_of_user(self, user_id: str, file_id: str) -> FileRecord | None:
        if not (is_id(user_id) and is_id(file_id)):
            return None
        doc = await self._files.find_one({"_id": ObjectId(file_id), "userId": _id_variants(user_id)})
        return None if doc is None else _file(doc)

    async def file_readable_by(self, user_id: str | None, file_id: str) -> FileRecord | None:
        if not is_id(file_id):
            return None
        query: dict[str, Any] = {"_id": ObjectId(file_id)}
        if user_id is not None and is_id(user_id):
            query["$or"] = [{"isPublic": True}, {"userId": _id_variants(user_id)}]
        else:
            query["isPublic"] = True
        doc = await self._files.find_one(query)
        return None if doc is None else _file(doc)

    async def children(self, user_id: str, parent_id: ParentId, page: int) -> list[FileRecord]:
        if not is_id(user_id):
            return []
        if is_root(parent_id):
            parent: Any = {"$in": _ROOT_VALUES}
        elif is_id(parent_id):
            parent = _id_variants(str(parent_id))
        else:
            return []
        cursor = (
            self._files.find({"userId": _id_variants(user_id), "parentId": parent})
            .sort("_id", 1)
            .skip(max(page, 0) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
        return [_file(doc) async for doc in cursor]

    async def set_public(self, user_id: str, file_id: str, is_public: bool) -> FileRecord | None:
        if not (is_id(user_id) and is_id(file_id)):
            return None
        doc = await self._files.find_one_and_update(
            {"_id": ObjectId(file_id), "userId": _id_variants(user_id)},
            {"$set": {"isPublic": bool(is_public)}},
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else _file(doc)

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

