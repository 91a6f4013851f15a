"""v2 lists and search: keyset pages that are index seeks, and ancestors.

Each list reads folders, then files, as two ranges of one index
((userId, parentId, trashedAt, kind, <sort key>, _id), mongo_setup.py) with
`kind` pinned, so "folders first" holds in both directions and each range
is read forwards or backwards from the position: page 5,000 costs what page
1 costs. A position's value is compared with `$gte`/`$lte` (the index
bounds) and ties are broken by `_id`, so an item is never given twice or
skipped.

Documents written without the derived keys (by the original, or other
tools, since the last open) are given theirs before a list or search reads
them: one index look-up when there are none.
"""

from __future__ import annotations

import re
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection

from .base import FileRecord, Order, ParentId, Position, is_id, is_storable_text, name_key
from .guard import domain_errors
from .mongo_docs import LIVE, MongoBase, domain_error, file_record, id_variants, parent_match
from .mongo_setup import fill_file_keys
from .mongo_tree import chain_up

SORT_FIELDS = {"name": "nameKey", "updated_at": "updatedAt", "size": "sizeKey"}


def _after(field: str, descending: bool, after: Position) -> dict[str, Any] | None:
    """Items strictly after `after` in (field, _id) order (None: a malformed position)."""
    if not is_id(after.id):
        return None
    value: Any = after.value
    oid = ObjectId(after.id)
    if descending:
        return {field: {"$lte": value}, "$or": [{field: {"$lt": value}}, {"_id": {"$lt": oid}}]}
    return {field: {"$gte": value}, "$or": [{field: {"$gt": value}}, {"_id": {"$gt": oid}}]}


async def keyset_page(
    files: AsyncCollection, base: dict[str, Any], order: Order, limit: int, after: Position | None
) -> list[FileRecord]:
    """Up to `limit` items matching `base`, folders first, in `order`, after `after`."""
    if limit <= 0:
        return []
    field = SORT_FIELDS[order.field]
    direction = -1 if order.descending else 1
    found: list[FileRecord] = []
    for kind in (0, 1):
        if after is not None and kind == 0 and not after.is_folder:
            continue  # the position is among the files: no folder comes after it
        query = {**base, "kind": kind}
        if after is not None and after.is_folder == (kind == 0):
            seek = _after(field, order.descending, after)
            if seek is None:
                return []
            query = {"$and": [query, seek]}
        cursor = files.find(query).sort([(field, direction), ("_id", direction)]).limit(limit - len(found))
        found += [file_record(doc) async for doc in cursor]
        if len(found) >= limit:
            break
    return found


@domain_errors(domain_error)
class MongoLists(MongoBase):
    async def list_files(
        self, user_id: str, parent_id: ParentId, order: Order, limit: int, after: Position | None
    ) -> list[FileRecord]:
        parent = parent_match(parent_id)
        if not is_id(user_id) or parent is None:
            return []
        scope = {"userId": id_variants(user_id), "parentId": parent}
        await fill_file_keys(self._files, scope)
        return await keyset_page(self._files, {**scope, **LIVE}, order, limit, after)

    async def search_files(
        self, user_id: str, text: str, order: Order, limit: int, after: Position | None
    ) -> list[FileRecord]:
        """A literal substring of nameKey (an unanchored regular expression of
        the escaped text: it reads the user's names from the index)."""
        if not is_id(user_id) or not is_storable_text(text) or "\x00" in text:
            return []  # no stored name holds such text
        scope = {"userId": id_variants(user_id)}
        await fill_file_keys(self._files, scope)
        base = {**scope, **LIVE, "nameKey": {"$regex": re.escape(name_key(text))}}
        return await keyset_page(self._files, base, order, limit, after)

    async def ancestors(self, user_id: str, file_id: str) -> list[FileRecord]:
        if not (is_id(user_id) and is_id(file_id)):
            return []
        doc = await self._files.find_one(
            {"_id": ObjectId(file_id), "userId": id_variants(user_id)}, {"parentId": 1}
        )
        if doc is None:
            return []
        chain = await chain_up(self._files, user_id, doc.get("parentId"))
        return [file_record(folder) for folder in reversed(chain)]
