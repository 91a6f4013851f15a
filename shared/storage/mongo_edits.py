"""Renames, moves, publishing and new content: one document each, but the
checks that go with them read others, so each write is checked again once
made and undone (conditionally: only if still ours) when something moved
under it meanwhile.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument

from ..errors import Invalid, NotFound
from .base import INTO_ITSELF, FileRecord, NewContent, ParentId, is_id, is_root
from .guard import domain_errors
from .mongo_docs import (
    LIVE,
    MongoBase,
    domain_error,
    file_record,
    id_variants,
    keyed,
    parent_out,
    stored_parent,
)
from .mongo_tree import chain_up, parent_problem
from .mongo_usage import charge, next_seq


def _same_parent(stored: Any, wanted: ParentId) -> bool:
    current = parent_out(stored)
    return is_root(current) if is_root(wanted) else str(current).lower() == str(wanted).lower()


@domain_errors(domain_error)
class MongoEdits(MongoBase):
    async def _move_problem(self, user_id: str, file_id: str, parent_id: ParentId, is_folder: bool) -> str | None:
        """Why the item cannot go into `parent_id` now (None: it can)."""
        if (problem := await parent_problem(self._files, user_id, parent_id)) is not None:
            return problem
        if is_folder and not is_root(parent_id):
            if str(parent_id).lower() == file_id.lower():
                return INTO_ITSELF
            chain = await chain_up(self._files, user_id, ObjectId(str(parent_id)))
            if any(str(doc["_id"]) == file_id.lower() for doc in chain):
                return INTO_ITSELF
        return None

    async def update_file(
        self,
        user_id: str,
        file_id: str,
        *,
        name: str | None = None,
        parent_id: ParentId | None = None,
        is_public: bool | None = None,
        now: float,
    ) -> FileRecord:
        """A move is checked before and again after it is written: a target
        trashed meanwhile, or a racing move that made a cycle, puts the
        item back where it was and refuses, as the first check would have
        (of two racing moves making a cycle, the later check sees it)."""
        if not (is_id(user_id) and is_id(file_id)):
            raise NotFound()
        match = {"_id": ObjectId(file_id), "userId": id_variants(user_id), **LIVE}
        doc = await self._files.find_one(match)
        if doc is None:
            raise NotFound()
        is_folder = doc.get("type") == "folder"
        moving = parent_id is not None and not _same_parent(doc.get("parentId"), parent_id)
        changes: dict[str, Any] = {"updatedAt": now}
        if name is not None:
            changes["name"] = name
        if is_public is not None:
            changes["isPublic"] = bool(is_public)
        if moving:
            assert parent_id is not None
            if (problem := await self._move_problem(user_id, file_id, parent_id, is_folder)) is not None:
                raise Invalid(problem)
            changes["parentId"] = stored_parent(parent_id)
            seq = await next_seq(self._users, user_id)  # to the end of its new folder's v1 order
            if seq is not None:
                changes["seq"] = seq
        changes = keyed(doc, changes)
        updated = await self._files.find_one_and_update(
            match, {"$set": changes}, return_document=ReturnDocument.AFTER
        )
        if updated is None:
            raise NotFound()
        if moving:
            assert parent_id is not None
            if (problem := await self._move_problem(user_id, file_id, parent_id, is_folder)) is not None:
                revert: dict[str, Any] = {"$set": {}, "$unset": {}}
                for field in changes:
                    if field in doc:
                        revert["$set"][field] = doc[field]
                    else:
                        revert["$unset"][field] = ""
                await self._files.update_one(
                    {"_id": ObjectId(file_id), "parentId": changes["parentId"], "updatedAt": now},
                    {op: fields for op, fields in revert.items() if fields},
                )
                raise Invalid(problem)
        return file_record(updated)

    async def replace_content(
        self, user_id: str, file_id: str, content: NewContent, quota: int | None, now: float
    ) -> tuple[FileRecord, str | None]:
        """Growth is charged before the document points at the new content,
        a shrink given back after; the document is changed only if it still
        points at the content it was read with (a racing replace is retried
        from the start, so each difference is charged once)."""
        if not (is_id(user_id) and is_id(file_id)):
            raise NotFound()
        match = {"_id": ObjectId(file_id), "userId": id_variants(user_id), **LIVE}
        while True:
            doc = await self._files.find_one(match)
            if doc is None:
                raise NotFound()
            if doc.get("type") == "folder":
                raise Invalid("A folder has no content")
            old_size = doc.get("size")
            grown = content.size - (old_size if isinstance(old_size, int) else 0)
            if grown > 0:
                await charge(self._users, user_id, used=grown, quota=quota)
            updated = await self._files.find_one_and_update(
                {**match, "localPath": doc.get("localPath"), "size": old_size},
                {"$set": keyed(doc, {
                    "localPath": content.local_path, "size": content.size, "sha256": content.sha256,
                    "mimeType": content.mime_type, "type": content.type, "hasThumbnails": False,
                    "updatedAt": now})},
                return_document=ReturnDocument.AFTER,
            )
            if updated is None:
                if grown > 0:
                    await charge(self._users, user_id, used=-grown)
                continue  # replaced, trashed or purged meanwhile: read it again
            if grown < 0:
                await charge(self._users, user_id, used=grown)
            old_path = doc.get("localPath")
            return file_record(updated), None if old_path is None else str(old_path)

    async def set_thumbnails(self, file_id: str, local_path: str) -> None:
        if is_id(file_id):
            await self._files.update_one(
                {"_id": ObjectId(file_id), "localPath": local_path}, {"$set": {"hasThumbnails": True}}
            )
