"""SQLite: v2 lists and search, keyset pages that are index seeks, and ancestors.

A list is a keyset seek in a partial index of live rows per sort key
(sqlite_migrations v3): folders, then files, each one ordered range read
forwards or backwards, so page 5,000 costs what page 1 costs. The query
names its index (INDEXED BY) so statistics gathered later cannot turn the
seek into a sort.
"""

from __future__ import annotations

from .base import ROOT, FileRecord, Order, ParentId, Position, is_id, is_storable_text, name_key
from .guard import domain_errors
from .sqlite_core import FILE_COLUMNS, MAX_DEPTH, SQLiteCore, domain_error, file_record, parent_key

# The column each sort compares, and the index that holds it for a folder's live rows.
_SORT_COLUMN = {"name": "name_key", "updated_at": "updated_at", "size": "size_key"}
_LIST_INDEX = {"name": "live_by_name", "updated_at": "live_by_updated", "size": "live_by_size"}


@domain_errors(domain_error)
class ListsPart(SQLiteCore):
    async def list_files(
        self, user_id: str, parent_id: ParentId, order: Order, limit: int, after: Position | None
    ) -> list[FileRecord]:
        key = parent_key(parent_id)
        if not is_id(user_id) or key is None:
            return []
        return self._keyset(_LIST_INDEX[order.field], "user_id = ? AND parent_id = ?",
                            (user_id.lower(), key), order, limit, after)

    async def search_files(
        self, user_id: str, text: str, order: Order, limit: int, after: Position | None
    ) -> list[FileRecord]:
        if not is_id(user_id) or not is_storable_text(text):
            return []
        # The user's names are read from search_by_name (no row visited but
        # the matches); sorted by name that is also the order, else the
        # matches are sorted.
        return self._keyset("search_by_name", "user_id = ? AND instr(name_key, ?) > 0",
                            (user_id.lower(), name_key(text)), order, limit, after)

    def _keyset(self, index: str, where: str, params: tuple, order: Order, limit: int,
                after: Position | None) -> list[FileRecord]:
        """Up to `limit` live rows matching `where`, folders then files, each
        in `order` after `after` (see the module doc)."""
        column = _SORT_COLUMN[order.field]
        direction, beyond = ("DESC", "<") if order.descending else ("ASC", ">")
        found: list[FileRecord] = []
        for is_file in (0, 1):
            if limit - len(found) <= 0:
                break
            if after is not None and not after.is_folder and is_file == 0:
                continue  # the last page ended among the files
            seek, values = "", (*params, is_file)
            if after is not None and after.is_folder == (is_file == 0):
                seek, values = f" AND ({column}, id) {beyond} (?, ?)", (*values, after.value, after.id)
            rows = self._read(
                f"SELECT {FILE_COLUMNS} FROM files INDEXED BY {index} WHERE {where} AND is_file = ?"
                f" AND trashed_at IS NULL{seek} ORDER BY {column} {direction}, id {direction} LIMIT ?",
                (*values, limit - len(found)),
            ).fetchall()
            found += [file_record(row) for row in rows]
        return found

    async def ancestors(self, user_id: str, file_id: str) -> list[FileRecord]:
        record = self._file_by_id(file_id)
        if record is not None and record.user_id != user_id:
            return []
        chain: list[FileRecord] = []
        seen = set()
        while record is not None and record.parent_id != ROOT and len(chain) < MAX_DEPTH:
            parent = self._file_by_id(str(record.parent_id))
            if parent is None or parent.user_id != user_id or parent.id in seen:
                break
            seen.add(parent.id)
            chain.append(parent)
            record = parent
        chain.reverse()
        return chain
