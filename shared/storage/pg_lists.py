"""PostgreSQL: v2 lists and search, keyset pages that are index seeks, and ancestors.

A list is a keyset seek in a partial index of live rows per sort key
(pg_migrations v1): folders, then files, each one ordered range read
forwards or backwards, so page 5,000 costs what page 1 costs. A search
matches `name_key LIKE '%text%'`, which the planner answers either by
walking the user's live names in order until the page is full
(search_by_name: a text many names hold) or from the trigram index
(search_trigrams: a rare one), whichever its statistics say is cheaper.
"""

from __future__ import annotations

from typing import Any

from .base import SORT_COLUMN, FileRecord, Order, ParentId, Position, is_id, is_storable_text, name_key
from .guard import domain_errors
from .pg_core import FILE_COLUMNS, MAX_DEPTH, PGCore, domain_error, file_record, parent_key, stored_name


def _like_pattern(text: str) -> str:
    """`%text%` with LIKE's wildcards and escape taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _seek_value(order: Order, value: object) -> Any:
    """The position's value as the sort column's type; None when it cannot be one."""
    if order.field == "name":
        return stored_name(value) if isinstance(value, str) and "\ufdd0" not in value else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if order.field == "size":
        return int(value) if float(value).is_integer() else None
    return float(value)


@domain_errors(domain_error)
class ListsPart(PGCore):
    async def list_files(
        self, user_id: str, parent_id: ParentId, order: Order, limit: int, after: Position | None
    ) -> list[FileRecord]:
        key = parent_key(parent_id)
        if not is_id(user_id) or key is None:
            return []
        where = "user_id = $1 AND parent_id = $2 AND trashed_at IS NULL"
        return await self._keyset(where, [user_id.lower(), key], order, limit, after)

    async def search_files(
        self, user_id: str, text: str, order: Order, limit: int, after: Position | None
    ) -> list[FileRecord]:
        if not is_id(user_id) or not is_storable_text(text) or "\ufdd0" in text:
            return []
        where = "user_id = $1 AND name_key LIKE $2 AND trashed_at IS NULL"
        return await self._keyset(where, [user_id.lower(), _like_pattern(stored_name(name_key(text)))],
                                  order, limit, after)

    async def _keyset(self, where: str, params: list[Any], order: Order, limit: int,
                      after: Position | None) -> list[FileRecord]:
        """Up to `limit` live rows matching `where` (on `params`), folders then
        files, each in `order` after `after` (see the module doc). One
        statement, one round trip: a keyset seek per kind, each limited, put
        together in that order."""
        if limit <= 0:
            return []
        column = SORT_COLUMN[order.field]
        direction, beyond = ("DESC", "<") if order.descending else ("ASC", ">")
        ordering = f"{column} {direction}, id {direction}"
        values = [*params, limit]
        kinds: list[str] = []
        for is_file in (False, True):
            if after is not None and not after.is_folder and not is_file:
                continue  # the last page ended among the files
            seek = ""
            if after is not None and after.is_folder != is_file:
                value = _seek_value(order, after.value)
                if value is None or not is_id(after.id):
                    return []
                seek = f" AND ({column}, id) {beyond} (${len(values) + 1}, ${len(values) + 2})"
                values += [value, after.id.lower()]
            kinds.append(f"(SELECT {FILE_COLUMNS}, is_file, {column} AS sort_key FROM files WHERE {where}"
                         f" AND is_file = {'true' if is_file else 'false'}{seek}"
                         f" ORDER BY {ordering} LIMIT ${len(params) + 1})")
        rows = await self._fetch(
            f"SELECT * FROM ({' UNION ALL '.join(kinds)}) AS page"
            f" ORDER BY is_file, sort_key {direction}, id {direction} LIMIT ${len(params) + 1}", *values)
        return [file_record(row) for row in rows]

    async def ancestors(self, user_id: str, file_id: str) -> list[FileRecord]:
        if not (is_id(user_id) and is_id(file_id)):
            return []
        # The chain of parents in one recursive query, each step a primary-key look-up.
        rows = await self._fetch(
            f"""WITH RECURSIVE up AS (
                    SELECT {FILE_COLUMNS}, 0 AS depth FROM files WHERE id = $1 AND user_id = $2
                    UNION ALL
                    SELECT {', '.join('f.' + c.strip() for c in FILE_COLUMNS.split(','))}, up.depth + 1
                    FROM files f JOIN up ON f.id = up.parent_id WHERE f.user_id = $2 AND up.depth < $3
                ) CYCLE id SET is_cycle USING path
                SELECT {FILE_COLUMNS} FROM up WHERE depth > 0 AND NOT is_cycle ORDER BY depth DESC""",
            file_id.lower(), user_id.lower(), MAX_DEPTH)
        return [file_record(row) for row in rows]
