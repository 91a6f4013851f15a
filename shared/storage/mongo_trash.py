"""The trash: deletions of whole trees, their restoration, and purges.

A deletion marks every item with `trashedAt` and `trashId` (the id of the
item deleted); that item, the top, also gets `trashTop: true`, which is
what the trash lists. Without transactions a tree is changed level by
level with `update_many`, in an order that leaves a crash harmless:

- trash_file marks everything below the top before the top. A crash leaves
  the top live with some items below it hidden; deleting it again finishes
  the deletion (the hidden ones already carry its id). After the top is
  marked the tree is walked once more, so an item created or moved into it
  meanwhile (create_file and update_file check the folder again after
  writing) is trashed too. When a racing deletion (of the top or of a
  folder above it) marks the top first, what this one marked joins that
  deletion.
- restore_file brings back everything below the top before the top. A
  crash leaves the top in the trash, with some of its items back; restoring
  it again finishes.
- purge_file deletes from the bottom level up, the top last, and gives the
  bytes back after each batch is deleted. A crash leaves the top, and part
  of what was below it, to purge again; bytes not yet given back stay
  counted (mongo_usage.py). Each document is deleted by find_one_and_delete,
  so two purges racing over one tree give back each file's bytes once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from ..errors import NotFound
from .base import ROOT, FileRecord, is_id, is_root
from .guard import domain_errors
from .mongo_docs import LIVE, MongoBase, domain_error, file_record, id_variants, ids_variants, keyed
from .mongo_tree import levels_below, parent_problem
from .mongo_usage import charge, next_seq

# Documents deleted at once by a purge (each its own find_one_and_delete).
_PURGE_BATCH = 64
_TRASH_FIELDS = ("trashedAt", "trashId", "trashTop")


async def _purge_batch(
    files: AsyncCollection, links: AsyncCollection, users: AsyncCollection, user_id: str, ids: list[Any]
) -> list[str]:
    """Delete these documents of the user, their links, and give back their bytes; their blob paths."""
    owner = id_variants(user_id)
    deleted = await asyncio.gather(*(
        files.find_one_and_delete({"_id": oid, "userId": owner}, projection={"size": 1, "localPath": 1})
        for oid in ids
    ))
    docs = [doc for doc in deleted if doc is not None]
    freed = sum(doc["size"] for doc in docs if isinstance(doc.get("size"), int))
    if freed:
        await charge(users, user_id, used=-freed)
    if docs:
        await links.delete_many({"userId": owner, "fileId": ids_variants([doc["_id"] for doc in docs])})
    return [str(doc["localPath"]) for doc in docs if isinstance(doc.get("localPath"), str)]


@domain_errors(domain_error)
class MongoTrash(MongoBase):
    async def trash_file(self, user_id: str, file_id: str, now: float) -> FileRecord:
        if not (is_id(user_id) and is_id(file_id)):
            raise NotFound()
        top = ObjectId(file_id)
        owner = id_variants(user_id)
        doc = await self._files.find_one({"_id": top, "userId": owner, **LIVE}, {"type": 1})
        if doc is None:
            raise NotFound()
        mark = {"$set": {"trashedAt": now, "trashId": top}}
        if doc.get("type") == "folder":
            for level in reversed(await levels_below(self._files, user_id, top, live_only=True)):
                await self._mark(level, mark)
        marked = await self._files.find_one_and_update(
            {"_id": top, "userId": owner, **LIVE},
            {"$set": {"trashedAt": now, "trashId": top, "trashTop": True}},
            return_document=ReturnDocument.AFTER,
        )
        if marked is None:  # trashed (or purged) by a racing request
            await self._join_winner(owner, top, now)
            raise NotFound()
        if doc.get("type") == "folder":
            await self._trash_latecomers(user_id, top, mark)
        return file_record(marked)

    async def _join_winner(self, owner: dict[str, Any], top: ObjectId, now: float) -> None:
        """What this call marked goes with the deletion that took the top first
        (its own, or an ancestor's), so restoring that brings it back too."""
        winner = await self._files.find_one({"_id": top}, {"trashId": 1, "trashedAt": 1})
        if winner is not None and winner.get("trashId") is not None:
            await self._files.update_many(
                {"userId": owner, "trashId": top, "trashedAt": now, "_id": {"$ne": top}},
                {"$set": {"trashId": winner["trashId"], "trashedAt": winner.get("trashedAt")}},
            )

    async def _mark(self, docs: list[dict[str, Any]], change: dict[str, Any]) -> None:
        ids = [d["_id"] for d in docs]
        for start in range(0, len(ids), 1000):
            await self._files.update_many({"_id": {"$in": ids[start:start + 1000]}, **LIVE}, change)

    async def _trash_latecomers(self, user_id: str, top: ObjectId, mark: dict[str, Any]) -> None:
        """Live items below the deletion now: created or moved in during the walk."""
        ours = {"$or": [LIVE, {"trashId": top}]}
        for level in await levels_below(self._files, user_id, top, match=ours, fields=("trashedAt",)):
            latecomers = [d for d in level if d.get("trashedAt") is None]
            if latecomers:
                await self._mark(latecomers, mark)

    async def restore_file(self, user_id: str, file_id: str, now: float) -> FileRecord:
        """The top goes to the end of its folder's v1 order, to the root if
        that folder is gone or trashed; its updated_at is `now`."""
        if not (is_id(user_id) and is_id(file_id)):
            raise NotFound()
        top = ObjectId(file_id)
        owner = id_variants(user_id)
        doc = await self._files.find_one({"_id": top, "userId": owner, "trashTop": True})
        if doc is None:
            raise NotFound()
        back = {"$unset": {field: "" for field in _TRASH_FIELDS}}
        await self._files.update_many({"userId": owner, "trashId": top, "_id": {"$ne": top}}, back)
        change: dict[str, Any] = {**back, "$set": keyed(doc, {"updatedAt": now})}
        parent = doc.get("parentId")
        if not is_root(parent) and await parent_problem(self._files, user_id, str(parent).lower()):
            change["$set"]["parentId"] = ROOT
        seq = await next_seq(self._users, user_id)
        if seq is not None:
            change["$set"]["seq"] = seq
        restored = await self._files.find_one_and_update(
            {"_id": top, "userId": owner, "trashTop": True},
            change, return_document=ReturnDocument.AFTER,
        )
        if restored is None:
            raise NotFound()  # restored or purged by a racing request
        return file_record(restored)

    async def trashed_files(self, user_id: str, limit: int, after: tuple[float, str] | None) -> list[FileRecord]:
        if not is_id(user_id) or limit <= 0:
            return []
        query: dict[str, Any] = {"userId": id_variants(user_id), "trashTop": True}
        if after is not None:
            when, last = after
            if not is_id(last):
                return []
            query["trashedAt"] = {"$lte": when}
            query["$or"] = [{"trashedAt": {"$lt": when}}, {"_id": {"$lt": ObjectId(last)}}]
        cursor = self._files.find(query).sort([("trashedAt", -1), ("_id", -1)]).limit(limit)
        return [file_record(doc) async for doc in cursor]

    async def purge_file(self, user_id: str, file_id: str) -> list[str]:
        if not (is_id(user_id) and is_id(file_id)):
            raise NotFound()
        top = ObjectId(file_id)
        doc = await self._files.find_one({"_id": top, "userId": id_variants(user_id)}, {"type": 1})
        if doc is None:
            raise NotFound()
        paths: list[str] = []
        folders: list[Any] = []
        if doc.get("type") == "folder":
            for level in reversed(await levels_below(self._files, user_id, top)):
                paths += await self._purge_ids(user_id, [d["_id"] for d in level])
                folders += [d["_id"] for d in level if d.get("type") == "folder"]
            folders.append(top)
        paths += await self._purge_ids(user_id, [top])
        # Created in a folder of the tree while it was deleted (create_file
        # checks its folder after inserting, but may have checked before).
        while folders:
            strays = await self._files.find(
                {"userId": id_variants(user_id), "parentId": ids_variants(folders[:500])}, {"type": 1}
            ).to_list()
            folders = folders[500:] + [d["_id"] for d in strays if d.get("type") == "folder"]
            paths += await self._purge_ids(user_id, [d["_id"] for d in strays])
        return paths

    async def _purge_ids(self, user_id: str, ids: list[Any]) -> list[str]:
        paths: list[str] = []
        for start in range(0, len(ids), _PURGE_BATCH):
            paths += await _purge_batch(self._files, self._links, self._users, user_id,
                                        ids[start:start + _PURGE_BATCH])
        return paths

    async def purge_trash(self, user_id: str) -> list[str]:
        """Every deletion's top, then whatever is still trashed (below a top
        whose deletion was interrupted)."""
        if not is_id(user_id):
            return []
        paths: list[str] = []
        owner = id_variants(user_id)
        for query in ({"userId": owner, "trashTop": True}, {"userId": owner, "trashedAt": {"$ne": None}}):
            last: Any = None
            while True:
                page = query if last is None else {**query, "_id": {"$gt": last}}
                batch = await self._files.find(page, {"_id": 1}).sort("_id", 1).limit(100).to_list()
                if not batch:
                    break
                last = batch[-1]["_id"]
                for doc in batch:
                    try:
                        paths += await self.purge_file(user_id, str(doc["_id"]))
                    except NotFound:
                        pass  # purged with an earlier top, or by a racing request
        return paths

    async def trashed_before(self, cutoff: float, limit: int) -> list[FileRecord]:
        if limit <= 0:
            return []
        cursor = self._files.find({"trashTop": True, "trashedAt": {"$lt": cutoff}}).sort("trashedAt", 1).limit(limit)
        return [file_record(doc) async for doc in cursor]
