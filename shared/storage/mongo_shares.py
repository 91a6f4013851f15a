"""Share links: the `shareLinks` collection, one document per link, found by
the SHA-256 of its token (unique index `tokenHash_1`). The download count is
a counter moved by one conditional update, so racing downloads never pass
maxDownloads.
"""

from __future__ import annotations

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from ..errors import Conflict
from .base import ShareLink, is_id, is_storable_text
from .guard import domain_errors
from .mongo_docs import MongoBase, domain_error, id_variants, link_document, link_record


@domain_errors(domain_error)
class MongoShares(MongoBase):
    async def create_link(self, link: ShareLink) -> ShareLink:
        try:
            await self._links.insert_one(link_document(link))
        except DuplicateKeyError:  # the same id or token hash: 128 random bits never repeat
            raise Conflict() from None
        return link

    async def links_of_file(self, user_id: str, file_id: str) -> list[ShareLink]:
        if not (is_id(user_id) and is_id(file_id)):
            return []
        cursor = self._links.find({"userId": id_variants(user_id), "fileId": id_variants(file_id)})
        return [link_record(doc) async for doc in cursor.sort([("createdAt", -1), ("_id", -1)])]

    async def link_of_user(self, user_id: str, link_id: str) -> ShareLink | None:
        if not (is_id(user_id) and is_id(link_id)):
            return None
        doc = await self._links.find_one({"_id": ObjectId(link_id), "userId": id_variants(user_id)})
        return None if doc is None else link_record(doc)

    async def link_by_token_hash(self, token_hash: str) -> ShareLink | None:
        if not is_storable_text(token_hash):
            return None
        doc = await self._links.find_one({"tokenHash": token_hash})
        return None if doc is None else link_record(doc)

    async def revoke_link(self, user_id: str, link_id: str, now: float) -> bool:
        """The first revocation's time is kept ($min: a missing field takes `now`)."""
        if not (is_id(user_id) and is_id(link_id)):
            return False
        result = await self._links.update_one(
            {"_id": ObjectId(link_id), "userId": id_variants(user_id)}, {"$min": {"revokedAt": now}}
        )
        return result.matched_count == 1

    async def count_download(self, link_id: str) -> bool:
        if not is_id(link_id):
            return False
        below_max = {"$expr": {"$lt": [{"$ifNull": ["$downloads", 0]}, {"$ifNull": ["$maxDownloads", 0]}]}}
        result = await self._links.update_one(
            {"_id": ObjectId(link_id), "$or": [{"maxDownloads": None}, below_max]},
            {"$inc": {"downloads": 1}},
        )
        return result.modified_count == 1
