"""A user's bytes and v1 order counter, kept on the user's document.

`usedBytes` (live and trashed files' sizes), `reservedBytes` (Upload-Length
of unfinished tus uploads) and `lastSeq` (the last v1 position handed out)
sit beside the original's `{_id, email, password}`; a user written without
them has used and reserved nothing yet. There are no multi-document
transactions, so the quota is enforced by one conditional update of the
user's document: `$inc` only if used + reserved + the new bytes still fit
(`$expr`, with `$ifNull` around every field: mongomock, behind wiremongo,
raises on a missing field where MongoDB reads null).

The file writes around these updates are ordered so that a crash between
the two can only leave bytes counted that are not there (a quota slightly
too strict), never bytes that are there uncounted: bytes are charged before
a document is inserted or grown, and given back after it is deleted or
shrunk. `recount_usage` sets the counters back to the truth.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from ..errors import QuotaExceeded
from .base import Usage, is_id
from .guard import domain_errors
from .mongo_docs import MongoBase, domain_error


def _fits(quota: int, extra: int) -> dict[str, Any]:
    total = {"$add": [{"$ifNull": ["$usedBytes", 0]}, {"$ifNull": ["$reservedBytes", 0]}, extra]}
    return {"$expr": {"$lte": [total, quota]}}


async def charge(
    users: AsyncCollection,
    user_id: str,
    *,
    used: int = 0,
    reserved: int = 0,
    quota: int | None = None,
    seq: bool = False,
) -> int | None:
    """Add `used` and `reserved` bytes (either may be negative) to the user's
    counters in one atomic update, refused with QuotaExceeded when
    `quota` is set and used + reserved + the additions would pass it.
    Adding nothing is never refused, so a user over a lowered quota can
    still make folders and shrink files. With `seq`, also take the next v1
    position and return it.

    A user without a document (files of an account removed by other tools)
    has nothing to count: None, and nothing refused."""
    if not is_id(user_id):
        return None
    if used + reserved <= 0:
        quota = None
    query: dict[str, Any] = {"_id": ObjectId(user_id)}
    if quota is not None:
        query.update(_fits(quota, used + reserved))
    inc: dict[str, int] = {}
    if used:
        inc["usedBytes"] = used
    if reserved:
        inc["reservedBytes"] = reserved
    if seq:
        inc["lastSeq"] = 1
    if not inc:
        doc = await users.find_one(query, {"_id": 1}) if quota is not None else {}
    else:
        doc = await users.find_one_and_update(
            query, {"$inc": inc}, projection={"lastSeq": 1}, return_document=ReturnDocument.AFTER
        )
    if doc is None:
        if quota is not None and await users.find_one({"_id": ObjectId(user_id)}, {"_id": 1}):
            raise QuotaExceeded()
        return None
    return doc.get("lastSeq") if seq else None


async def next_seq(users: AsyncCollection, user_id: str) -> int | None:
    """The next v1 position of the user's files (None: no user document)."""
    return await charge(users, user_id, seq=True)


async def read_usage(users: AsyncCollection, user_id: str) -> Usage:
    if not is_id(user_id):
        return Usage(0, 0, None)
    doc = await users.find_one(
        {"_id": ObjectId(user_id)}, {"usedBytes": 1, "reservedBytes": 1, "quotaBytes": 1}
    )
    doc = doc or {}

    def number(field: str) -> int | None:
        value = doc.get(field)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return Usage(number("usedBytes") or 0, number("reservedBytes") or 0, number("quotaBytes"))


async def recount_usage(
    users: AsyncCollection, files: AsyncCollection, uploads: AsyncCollection, user_id: str
) -> Usage:
    """Set the user's counters to what the files and unfinished uploads hold
    (after a crash left bytes counted twice). Writes racing it may be
    miscounted: an operator's repair, for a user not uploading right now."""
    if not is_id(user_id):
        return Usage(0, 0, None)
    owner = {"$in": [ObjectId(user_id), user_id.lower()]}
    used = await _sum(files, {"userId": owner, "size": {"$gt": 0}}, "$size")
    reserved = 0
    # Unfinished uploads, but for those claimed whose file exists: a
    # finish_upload retried after its crash moves no bytes then (mongo_uploads.py).
    async for upload in uploads.find({"userId": owner, "fileId": None}, {"length": 1, "claim": 1}):
        claim = upload.get("claim")
        if claim is None or await files.find_one({"_id": claim}, {"_id": 1}) is None:
            length = upload.get("length")
            reserved += length if isinstance(length, int) else 0
    await users.update_one(
        {"_id": ObjectId(user_id)}, {"$set": {"usedBytes": used, "reservedBytes": reserved}}
    )
    return await read_usage(users, user_id)


async def _sum(collection: AsyncCollection, match: dict[str, Any], field: str) -> int:
    cursor = await collection.aggregate(
        [{"$match": match}, {"$group": {"_id": None, "total": {"$sum": field}}}]
    )
    rows = await cursor.to_list()
    return int(rows[0]["total"]) if rows else 0


@domain_errors(domain_error)
class MongoUsage(MongoBase):
    async def usage(self, user_id: str) -> Usage:
        return await read_usage(self._users, user_id)

    async def set_quota(self, user_id: str, quota_bytes: int | None) -> bool:
        if not is_id(user_id):
            return False
        change = {"$unset": {"quotaBytes": ""}} if quota_bytes is None else {"$set": {"quotaBytes": quota_bytes}}
        return (await self._users.update_one({"_id": ObjectId(user_id)}, change)).matched_count == 1

    async def recount_usage(self, user_id: str) -> Usage:
        """See recount_usage (an operator's repair: `fsck --repair`)."""
        return await recount_usage(self._users, self._files, self._uploads, user_id)
