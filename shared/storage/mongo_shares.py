"""Share links: the `shareLinks` collection, one document per link, found by
the SHA-256 of its token (unique index `tokenHash_1`). The download count is
a counter moved by one conditional update, so racing downloads never pass
maxDownloads.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from ..errors import Conflict
from .base import ShareLink, is_id, is_storable_text
from .guard import domain_errors
from .mongo_docs import (
    MongoBase,
    as_int,
    as_str,
    as_text,
    domain_error,
    id_out,
    id_variants,
    seconds,
    stored_id,
)


def link_document(link: ShareLink) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": stored_id(link.id),
        "userId": stored_id(link.user_id),
        "fileId": stored_id(link.file_id),
        "tokenHash": link.token_hash,
        "createdAt": link.created_at,
        "expiresAt": link.expires_at,
        "downloads": link.downloads,
    }
    if link.password_hash is not None:
        doc["passwordHash"] = link.password_hash
    if link.max_downloads is not None:
        doc["maxDownloads"] = link.max_downloads
    if link.revoked_at is not None:
        doc["revokedAt"] = link.revoked_at
    return doc


def link_record(doc: dict[str, Any]) -> ShareLink:
    return ShareLink(
        id=str(doc["_id"]),
        user_id=id_out(doc.get("userId")),
        file_id=id_out(doc.get("fileId")),
        token_hash=as_str(doc.get("tokenHash")),
        created_at=seconds(doc.get("createdAt")) or 0.0,
        expires_at=seconds(doc.get("expiresAt")) or 0.0,
        password_hash=as_text(doc.get("passwordHash")),
        max_downloads=as_int(doc.get("maxDownloads")),
        downloads=as_int(doc.get("downloads")) or 0,
        revoked_at=seconds(doc.get("revokedAt")),
    )


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
