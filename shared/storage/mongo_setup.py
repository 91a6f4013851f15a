"""What MongoStorage.open does to a database before use: indexes, the
`emailKey` of users and the derived keys of files (mongo_docs.py) written
without them (by the original or other tools).

Each step is bounded in time and idempotent, so any number of processes may
open the same database at once, and a large or odd legacy database never
stops the service from starting: it starts with a warning and sign-up checks
for a taken email before inserting (`EmailIndexes`).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import pymongo
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError, OperationFailure, PyMongoError

from ..logging import get_logger
from .base import email_key
from .mongo_docs import derived_keys, oid_time

log = get_logger("storage.mongo")

# Bound on building each index at start-up: a slow build on a large legacy
# collection must not stop the service from starting (it warns and goes on).
INDEX_TIMEOUT = 5.0
# Bound on giving legacy users their emailKey at one start; the rest at the next.
BACKFILL_BUDGET = 5.0
_BACKFILL_BATCH = 1000
# Fields of a file document that its derived keys are computed from.
_KEYED_FIELDS = {"name": 1, "type": 1, "size": 1, "createdAt": 1, "updatedAt": 1}
_DUPLICATE_KEY = (11000, 11001)


@dataclass(frozen=True)
class EmailIndexes:
    """What the database enforces about emails, as found at open."""

    emails_unique: bool = True  # users.email_1 is unique (exact emails)
    keys_unique: bool = True  # users.emailKey_1 is unique (emails compared by email_key)
    keys_complete: bool = True  # every user had an emailKey when the back-fill ended

    @property
    def enforced(self) -> bool:
        """True when an insert alone cannot create a second account for one email."""
        return self.emails_unique and self.keys_unique and self.keys_complete


def legacy_match(email: str) -> dict[str, Any]:
    """A user without emailKey whose email equals `email` but for case and
    surrounding spaces (a collection scan: used only while the back-fill is
    incomplete)."""
    pattern = "^\\s*" + re.escape(email.strip()) + "\\s*$"
    return {"emailKey": {"$exists": False}, "email": {"$regex": pattern, "$options": "i"}}


async def _create_index(collection, keys: list, name: str, **options: Any) -> str | None:
    """None when created (or there already); otherwise why not, after a warning.
    Raises when the server went away: not something to carry on from."""
    try:
        with pymongo.timeout(INDEX_TIMEOUT):
            await collection.create_index(keys, name=name, **options)
        return None
    except PyMongoError as exc:
        if not (isinstance(exc, OperationFailure) or exc.timeout):
            raise
        if isinstance(exc, OperationFailure) and exc.code in _DUPLICATE_KEY:
            return "duplicates"
        # An existing index of the same keys with other options, no createIndex right, a slow build.
        log.warning("storage.mongo.index_failed", index=f"{collection.name}.{name}", error=str(exc))
        return "failed"


async def backfill_email_keys(
    users, budget: float = BACKFILL_BUDGET, batch_size: int = _BACKFILL_BATCH
) -> bool:
    """Give users without emailKey theirs, oldest first, batch after batch until
    `budget` seconds have passed; True when none is left to try.

    With a unique emailKey index, a user whose key another already holds (an
    email differing only in case, or not at all, from an older or a newer
    account's) keeps none: it still logs in with its exact email, and no new
    sign-up can take its key. Each open starts over from the oldest, so users
    written by other tools since the last start get theirs too."""
    deadline = time.monotonic() + budget
    after: Any = None
    taken = 0
    while True:
        query: dict[str, Any] = {"emailKey": {"$exists": False}}
        if after is not None:
            query["_id"] = {"$gt": after}
        with pymongo.timeout(INDEX_TIMEOUT):
            batch = await users.find(query, {"email": 1}).sort("_id", 1).limit(batch_size).to_list()
        if not batch:
            break
        after = batch[-1]["_id"]
        seen: set[str] = set()
        updates = []
        for doc in batch:
            email = doc.get("email")
            if not isinstance(email, str):
                continue  # no email: cannot log in, nothing to compare
            key = email_key(email)
            if key in seen:
                taken += 1  # the older one of this batch gets it
                continue
            seen.add(key)
            updates.append(UpdateOne({"_id": doc["_id"], "emailKey": {"$exists": False}},
                                     {"$set": {"emailKey": key}}))
        if updates:
            try:
                with pymongo.timeout(INDEX_TIMEOUT):
                    await users.bulk_write(updates, ordered=False)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if any(e.get("code") not in _DUPLICATE_KEY for e in errors):
                    raise
                taken += len(errors)
        if len(batch) < batch_size:
            break
        if time.monotonic() >= deadline:
            log.warning(
                "storage.mongo.email_keys_incomplete",
                detail=f"users without emailKey remain after {budget:g} s: sign-up checks them"
                       " by a scan until a later start has given every user its key",
            )
            return False
    if taken:
        log.warning(
            "storage.mongo.duplicate_emails",
            detail=f"{taken} user(s) share an email (but for case or spaces) with another: each"
                   " logs in with its exact email; other spellings reach the one holding the key",
        )
    return True


async def fill_file_keys(
    files, scope: dict[str, Any], budget: float | None = None, batch_size: int = _BACKFILL_BATCH
) -> bool:
    """Give the files matching `scope` written without derived keys theirs
    (and createdAt/updatedAt, from the id, where missing); True when none is
    left. With a `budget` (seconds; at open, over the whole collection) the
    oldest first, until it is spent; without one (a list or search filling
    its own scope before reading it) all of them, in no order, so the query
    stays a seek on the list and search indexes. Each update is conditional
    on the key still missing, so racing fills agree."""
    deadline = None if budget is None else time.monotonic() + budget
    after: Any = None
    while True:
        query: dict[str, Any] = {**scope, "nameKey": None}
        if deadline is None:
            cursor = files.find(query, _KEYED_FIELDS)
        else:
            if after is not None:
                query["_id"] = {"$gt": after}
            cursor = files.find(query, _KEYED_FIELDS).sort("_id", 1)
        batch = await cursor.limit(batch_size).to_list()
        if not batch:
            return True
        after = batch[-1]["_id"]
        updates = []
        for doc in batch:
            keys = derived_keys(doc)
            for field in ("createdAt", "updatedAt"):
                if doc.get(field) is None:
                    keys[field] = oid_time(doc["_id"])
            updates.append(UpdateOne({"_id": doc["_id"], "nameKey": None}, {"$set": keys}))
        await files.bulk_write(updates, ordered=False)
        if len(batch) < batch_size:
            return True
        if deadline is not None and time.monotonic() >= deadline:
            log.warning("storage.mongo.file_keys_incomplete",
                        detail=f"files without nameKey remain after {budget:g} s: each list or"
                               " search fills its own before reading")
            return False


# Indexes of files: (name, keys). Every v2 list and search is a seek on one of
# them (mongo_lists.py); the trash and purge walks on the first and the trash ones.
FILE_INDEXES: tuple[tuple[str, list[tuple[str, int]]], ...] = (
    ("v1_children", [("userId", 1), ("parentId", 1), ("trashedAt", 1), ("seq", 1), ("_id", 1)]),
    ("list_by_name", [("userId", 1), ("parentId", 1), ("trashedAt", 1), ("kind", 1), ("nameKey", 1),
                      ("_id", 1)]),
    ("list_by_updated", [("userId", 1), ("parentId", 1), ("trashedAt", 1), ("kind", 1),
                         ("updatedAt", 1), ("_id", 1)]),
    ("list_by_size", [("userId", 1), ("parentId", 1), ("trashedAt", 1), ("kind", 1), ("sizeKey", 1),
                      ("_id", 1)]),
    # nameKey last: a search in these orders filters names in the index, not the documents.
    ("search_by_name", [("userId", 1), ("trashedAt", 1), ("kind", 1), ("nameKey", 1), ("_id", 1)]),
    ("search_by_updated", [("userId", 1), ("trashedAt", 1), ("kind", 1), ("updatedAt", 1), ("_id", 1),
                           ("nameKey", 1)]),
    ("search_by_size", [("userId", 1), ("trashedAt", 1), ("kind", 1), ("sizeKey", 1), ("_id", 1),
                        ("nameKey", 1)]),
    ("trash_tops", [("userId", 1), ("trashTop", 1), ("trashedAt", 1), ("_id", 1)]),
    ("trash_tops_by_time", [("trashTop", 1), ("trashedAt", 1)]),
    ("by_trash", [("userId", 1), ("trashId", 1)]),
)


async def prepare(db) -> EmailIndexes:
    """Create the indexes the queries need and back-fill emailKey and the
    files' derived keys (see the module doc)."""
    users, files = db["users"], db["files"]
    # Sparse: users written without emailKey (the original's, other tools') are not indexed.
    keys = await _create_index(users, [("emailKey", 1)], "emailKey_1", unique=True, sparse=True)
    keys_complete = keys is None  # without the index no key is given: legacy users have none
    if keys == "duplicates":
        log.warning("storage.mongo.duplicate_emails",
                    detail="users share an emailKey, so no unique index on it: sign-up checks before inserting")
    if keys is None:
        try:
            keys_complete = await backfill_email_keys(users)
        except PyMongoError as exc:
            if not (isinstance(exc, OperationFailure) or exc.timeout):
                raise
            log.warning("storage.mongo.email_keys_incomplete", error=str(exc))
            keys_complete = False
    emails = await _create_index(users, [("email", 1)], "email_1", unique=True)
    if emails == "duplicates":
        log.warning(
            "storage.mongo.duplicate_emails",
            detail="users holds duplicate emails, so no unique index: sign-up checks before inserting",
        )
    for name, index in FILE_INDEXES:
        await _create_index(files, index, name)
    await _create_index(db["shareLinks"], [("tokenHash", 1)], "tokenHash_1", unique=True)
    await _create_index(db["shareLinks"], [("userId", 1), ("fileId", 1), ("createdAt", 1)], "by_file")
    await _create_index(db["uploads"], [("expiresAt", 1)], "expiresAt_1")
    try:
        with pymongo.timeout(BACKFILL_BUDGET + INDEX_TIMEOUT):
            await fill_file_keys(files, {}, budget=BACKFILL_BUDGET)
    except PyMongoError as exc:
        if not (isinstance(exc, OperationFailure) or exc.timeout):
            raise
        log.warning("storage.mongo.file_keys_incomplete", error=str(exc))
    return EmailIndexes(emails_unique=emails is None, keys_unique=keys is None,
                        keys_complete=keys_complete)
