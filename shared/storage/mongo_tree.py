"""Walking a user's folder tree over `parentId`, one query per level (never
one per item), each an index seek on (userId, parentId, ...). Documents
whose parents form a cycle (other tools could write one) are visited once.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection

from .base import NOT_A_FOLDER, PARENT_NOT_FOUND, ParentId, is_id, is_root
from .mongo_docs import LIVE, id_variants, ids_variants

# Parent ids per query of a walk (each matched as an ObjectId and as text).
_LEVEL_CHUNK = 500


async def parent_problem(files: AsyncCollection, user_id: str, parent_id: ParentId) -> str | None:
    """Why `parent_id` cannot hold a new or moved item of the user (None: it can):
    the root always can; otherwise it must be a live folder of the user."""
    if is_root(parent_id):
        return None
    if not (is_id(parent_id) and is_id(user_id)):
        return PARENT_NOT_FOUND
    doc = await files.find_one(
        {"_id": ObjectId(str(parent_id)), "userId": id_variants(user_id), **LIVE}, {"type": 1}
    )
    if doc is None:
        return PARENT_NOT_FOUND
    return None if doc.get("type") == "folder" else NOT_A_FOLDER


async def chain_up(files: AsyncCollection, user_id: str, parent: Any) -> list[dict[str, Any]]:
    """The user's documents from `parent` (a stored parentId) up to the root,
    nearest first, whether live or trashed; stops at a missing one."""
    chain: list[dict[str, Any]] = []
    seen: set[str] = set()
    while parent is not None and not is_root(parent):
        key = str(parent).lower()
        if key in seen or not is_id(key):
            break
        seen.add(key)
        doc = await files.find_one({"_id": ObjectId(key), "userId": id_variants(user_id)})
        if doc is None:
            break
        chain.append(doc)
        parent = doc.get("parentId")
    return chain


async def levels_below(
    files: AsyncCollection, user_id: str, top: ObjectId, *, live_only: bool = False,
    match: dict[str, Any] | None = None, fields: tuple[str, ...] = ("type",),
) -> list[list[dict[str, Any]]]:
    """Everything below `top`, level by level (children first), as documents
    with `fields`. `live_only`: trashed items and what is below them are
    left out (they belong to deletions of their own); `match` leaves out,
    likewise, the items it does not match."""
    projection = {field: 1 for field in ("type", *fields)}
    owner = id_variants(user_id)
    levels: list[list[dict[str, Any]]] = []
    seen: set[Any] = {top}
    frontier: list[Any] = [top]
    while frontier:
        level: list[dict[str, Any]] = []
        for start in range(0, len(frontier), _LEVEL_CHUNK):
            query: dict[str, Any] = {"userId": owner,
                                     "parentId": ids_variants(frontier[start:start + _LEVEL_CHUNK])}
            if live_only:
                query.update(LIVE)
            if match:
                query.update(match)
            async for doc in files.find(query, projection, batch_size=2000):
                if doc["_id"] not in seen:
                    seen.add(doc["_id"])
                    level.append(doc)
        if level:
            levels.append(level)
        frontier = [doc["_id"] for doc in level if doc.get("type") == "folder" and is_id(str(doc["_id"]))]
    return levels
