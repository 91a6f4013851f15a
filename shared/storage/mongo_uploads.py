"""tus uploads: the `uploads` collection, one document per upload, its
Upload-Length reserved in the user's `reservedBytes` (mongo_usage.py) until
it is finished or forgotten.

finish_upload creates the file at most once without a transaction:

1. claim: the upload's `claim` is set to a fresh id, only if it has none
   (one conditional update; of racing calls one wins);
2. insert the file under the claimed id (every caller tries: a duplicate
   key means another did it), and the one whose insert created it moves
   the bytes from reserved to used;
3. set the upload's `fileId` (the claim), after which nobody inserts
   again (a file purged since is not brought back).

A crash after 1 leaves a claimed upload without its file: the next call
(the client's retry) inserts it. A crash between the insert and the bytes'
move leaves them reserved rather than used: the user's total, which the
quota checks, is the same (an upload's file is Upload-Length bytes).
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from ..errors import NotFound
from .base import ROOT, FileRecord, NewFile, Upload, is_id, is_root, new_object_id
from .guard import domain_errors
from .mongo_docs import (
    LIVE,
    MongoBase,
    as_int,
    as_str,
    domain_error,
    file_record,
    id_out,
    id_variants,
    new_file_document,
    parent_out,
    seconds,
    stored_id,
    stored_parent,
)
from .mongo_tree import parent_problem
from .mongo_usage import charge, next_seq


def upload_document(upload: Upload) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": stored_id(upload.id),
        "userId": stored_id(upload.user_id),
        "length": upload.length,
        "offset": upload.offset,
        "name": upload.name,
        "parentId": stored_parent(upload.parent_id) if is_root(upload.parent_id) or is_id(upload.parent_id)
        else upload.parent_id,
        "isPublic": bool(upload.is_public),
        "partPath": upload.part_path,
        "createdAt": upload.created_at,
        "expiresAt": upload.expires_at,
    }
    if upload.file_id is not None:
        doc["fileId"] = stored_id(upload.file_id)
    return doc


def upload_record(doc: dict[str, Any]) -> Upload:
    file_id = doc.get("fileId")
    return Upload(
        id=str(doc["_id"]),
        user_id=id_out(doc.get("userId")),
        length=as_int(doc.get("length")) or 0,
        offset=as_int(doc.get("offset")) or 0,
        name=as_str(doc.get("name")),
        parent_id=parent_out(doc.get("parentId")),
        is_public=doc.get("isPublic") is True,
        part_path=as_str(doc.get("partPath")),
        created_at=seconds(doc.get("createdAt")) or 0.0,
        expires_at=seconds(doc.get("expiresAt")) or 0.0,
        file_id=None if file_id is None else id_out(file_id) if isinstance(file_id, str) else str(file_id),
    )


@domain_errors(domain_error)
class MongoUploads(MongoBase):
    async def create_upload(self, upload: Upload, quota: int | None) -> Upload:
        """Reserved first, then inserted (undone if the insert fails)."""
        await charge(self._users, upload.user_id, reserved=upload.length, quota=quota)
        try:
            await self._uploads.insert_one(upload_document(upload))
        except BaseException:
            await charge(self._users, upload.user_id, reserved=-upload.length)
            raise
        return upload

    async def upload_of_user(self, user_id: str, upload_id: str) -> Upload | None:
        if not (is_id(user_id) and is_id(upload_id)):
            return None
        doc = await self._uploads.find_one({"_id": ObjectId(upload_id), "userId": id_variants(user_id)})
        return None if doc is None else upload_record(doc)

    async def set_upload_offset(self, upload_id: str, old_offset: int, new_offset: int) -> bool:
        if not is_id(upload_id):
            return False
        result = await self._uploads.update_one(
            {"_id": ObjectId(upload_id), "offset": old_offset}, {"$set": {"offset": new_offset}}
        )
        return result.matched_count == 1

    async def finish_upload(self, upload_id: str, new: NewFile, now: float) -> FileRecord:
        if not is_id(upload_id):
            raise NotFound()
        oid = ObjectId(upload_id)
        doc = await self._uploads.find_one_and_update(
            {"_id": oid, "claim": None, "fileId": None}, {"$set": {"claim": new_object_id()}},
            return_document=ReturnDocument.AFTER,
        ) or await self._uploads.find_one({"_id": oid})
        if doc is None:
            raise NotFound()
        user_id = str(doc.get("userId"))
        file_id = doc.get("fileId") or doc["claim"]
        if doc.get("fileId") is None:
            await self._insert_finished(doc, new, now)
            await self._uploads.update_one({"_id": oid}, {"$set": {"fileId": file_id}})
        found = await self._files.find_one({"_id": file_id, "userId": id_variants(user_id)})
        if found is None:
            raise NotFound()  # finished, then purged
        return file_record(found)

    async def _insert_finished(self, upload: dict[str, Any], new: NewFile, now: float) -> None:
        """Step 2 of the module doc: the file, in its folder or at the root."""
        user_id = str(upload.get("userId"))
        file_id = upload["claim"]
        if await self._files.find_one({"_id": file_id}, {"_id": 1}) is not None:
            return
        parent = new.parent_id
        if not is_root(parent) and await parent_problem(self._files, user_id, parent):
            parent = ROOT
        seq = await next_seq(self._users, user_id)
        placed = NewFile(user_id, new.name, new.type, new.is_public, parent, new.local_path,
                         new.size, new.sha256, new.mime_type)
        doc = new_file_document(placed, file_id, seq, now)
        try:
            await self._files.insert_one(doc)
        except DuplicateKeyError:
            return  # a racing call inserted it
        length = upload.get("length")
        await charge(self._users, user_id, used=new.size or 0,
                     reserved=-length if isinstance(length, int) else 0)
        if not is_root(parent) and await parent_problem(self._files, user_id, parent):
            # Its folder was trashed while it was inserted: to the root, as if it
            # had been first (unless the deletion's walk took it along already).
            await self._files.update_one({"_id": file_id, "parentId": doc["parentId"], **LIVE},
                                         {"$set": {"parentId": ROOT}})

    async def delete_upload(self, user_id: str, upload_id: str) -> Upload | None:
        """Removed, then its reservation given back if it was never claimed
        (a claimed one's bytes are the file's, or on their way to it)."""
        if not (is_id(user_id) and is_id(upload_id)):
            return None
        doc = await self._uploads.find_one_and_delete({"_id": ObjectId(upload_id), "userId": id_variants(user_id)})
        if doc is None:
            return None
        length = doc.get("length")
        if doc.get("claim") is None and doc.get("fileId") is None and isinstance(length, int) and length:
            await charge(self._users, user_id, reserved=-length)
        return upload_record(doc)

    async def expired_uploads(self, now: float, limit: int) -> list[Upload]:
        if limit <= 0:
            return []
        cursor = self._uploads.find({"expiresAt": {"$lt": now}}).sort("expiresAt", 1).limit(limit)
        return [upload_record(doc) async for doc in cursor]
