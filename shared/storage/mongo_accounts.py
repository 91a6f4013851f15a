"""MongoDB: what the operator does to accounts (disable, list).

`disabled: true` on the user's document marks a disabled account; the field
is absent otherwise (the original's documents never have it), so enabling
unsets it."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from .base import User, is_id
from .guard import domain_errors
from .mongo_docs import MongoBase, domain_error, user_record


@domain_errors(domain_error)
class MongoAccounts(MongoBase):
    async def set_disabled(self, user_id: str, disabled: bool) -> bool:
        if not is_id(user_id):
            return False
        change = {"$set": {"disabled": True}} if disabled else {"$unset": {"disabled": ""}}
        return (await self._users.update_one({"_id": ObjectId(user_id)}, change)).matched_count == 1

    async def list_users(self, limit: int, after: str | None) -> list[User]:
        if limit <= 0:
            return []
        query: dict[str, Any] = {}
        if after is not None:
            if not is_id(after):
                return []
            query["_id"] = {"$gt": ObjectId(after)}
        cursor = self._users.find(query).sort("_id", 1).limit(limit)
        return [user for doc in await cursor.to_list() if (user := user_record(doc)) is not None]
