"""MongoDB: the operator's consistency check (`fsck`): every file with a blob,
a page at a time, and the users whose counters drifted from their files.

Owners are matched as the rest of the backend does (`userId` an ObjectId or
its hex string: one user either way). The recount itself is mongo_usage.py's.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from .base import FileRecord, UsageDrift, is_id
from .guard import domain_errors
from .mongo_docs import MongoBase, as_int, as_str, domain_error, file_record

# A file (not a folder) names a blob when its localPath is a non-empty string.
_WITH_BLOB: dict[str, Any] = {"localPath": {"$type": "string", "$ne": ""}, "type": {"$ne": "folder"}}


def _owner(value: Any) -> str:
    return str(value).lower()


@domain_errors(domain_error)
class MongoScan(MongoBase):
    async def count_files_with_blobs(self) -> int:
        return await self._files.count_documents(_WITH_BLOB)

    async def files_with_blobs(self, after: str | None, limit: int) -> list[FileRecord]:
        query = dict(_WITH_BLOB)
        if after is not None:
            if not is_id(after):
                return []
            query["_id"] = {"$gt": ObjectId(after)}
        cursor = self._files.find(query).sort("_id", 1).limit(limit)
        return [file_record(doc) async for doc in cursor]

    async def usage_drifts(self) -> list[UsageDrift]:
        used: dict[str, int] = {}
        cursor = await self._files.aggregate([
            {"$match": {"size": {"$gt": 0}}},
            {"$group": {"_id": "$userId", "total": {"$sum": "$size"}}},
        ])
        async for row in cursor:
            owner = _owner(row["_id"])
            used[owner] = used.get(owner, 0) + int(row["total"])
        reserved: dict[str, int] = {}
        # As recount_usage: unfinished uploads, but for those claimed whose file exists.
        async for upload in self._uploads.find({"fileId": None}, {"userId": 1, "length": 1, "claim": 1}):
            claim = upload.get("claim")
            if claim is None or await self._files.find_one({"_id": claim}, {"_id": 1}) is None:
                owner = _owner(upload.get("userId"))
                reserved[owner] = reserved.get(owner, 0) + (as_int(upload.get("length")) or 0)
        drifts = []
        fields = {"email": 1, "usedBytes": 1, "reservedBytes": 1}
        async for user in self._users.find({}, fields).sort("_id", 1):
            owner = _owner(user["_id"])
            stored = (as_int(user.get("usedBytes")) or 0, as_int(user.get("reservedBytes")) or 0)
            counted = (used.get(owner, 0), reserved.get(owner, 0))
            if stored != counted:
                drifts.append(UsageDrift(str(user["_id"]), as_str(user.get("email")), *stored, *counted))
        return drifts
