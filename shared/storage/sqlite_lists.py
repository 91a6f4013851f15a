"""SQLite: v2 lists and search, keyset pages that are index seeks, and ancestors.

A list is a keyset seek in a partial index of live rows per sort key
(sqlite_migrations v3): folders, then files, each one ordered range read
forwards or backwards, so page 5,000 costs what page 1 costs. A search
cannot seek (any part of a name may match): it tests each of the user's
names inside an index (search_names, sqlite_migrations v4) and reads only
the matches' rows. The queries name their index (INDEXED BY) so statistics
gathered later cannot turn a seek into a sort.
"""

from __future__ import annotations

from collections.abc import Callable

from .base import ROOT, SORT_COLUMN, FileRecord, Order, ParentId, Position, is_id, is_storable_text, name_key
from .guard import domain_errors
from .sqlite_core import FILE_COLUMNS, MAX_DEPTH, SQLiteCore, domain_error, file_record, parent_key

# The index that holds each sort's column for a folder's live rows.
_LIST_INDEX = {"name": "live_by_name", "updated_at": "live_by_updated", "size": "live_by_size"}


@domain_errors(domain_error)
class ListsPart(SQLiteCore):
    async def list_files(
        self, user_id: str, parent_id: ParentId, order: Order, limit: int, after: Position | None
    ) -> list[FileRecord]:
        key = parent_key(parent_id)
        if not is_id(user_id) or key is None:
            return []
        index = _LIST_INDEX[order.field]

        def statement(is_file: int, seek: str, ordering: str) -> str:
            return (f"SELECT {FILE_COLUMNS} FROM files INDEXED BY {index} WHERE user_id = ? AND parent_id = ?"
                    f" AND is_file = {is_file} AND trashed_at IS NULL{seek} ORDER BY {ordering} LIMIT ?")

        return self._keyset(statement, (user_id.lower(), key), order, limit, after)

    async def search_files(
        self, user_id: str, text: str, order: Order, limit: int, after: Position | None
    ) -> list[FileRecord]:
        if not is_id(user_id) or not is_storable_text(text):
            return []
        by_name = order.field == "name"

        def statement(is_file: int, seek: str, ordering: str) -> str:
            # Each name tested in the index of its kind (sqlite_migrations._v4_search_names),
            # only the matches' rows read. In name order the index is the order: a seek, stopped
            # once the page is full; in another, the matches are sorted.
            index, kind = ("search_names", "<>") if is_file else ("search_folders", "=")
            names = (f"SELECT id FROM files INDEXED BY {index} WHERE user_id = ? AND instr(name_key, ?) > 0"
                     f" AND type {kind} 'folder' AND trashed_at IS NULL")
            if by_name:
                return (f"SELECT {FILE_COLUMNS} FROM files WHERE id IN ({names}{seek} ORDER BY {ordering} LIMIT ?)"
                        f" ORDER BY {ordering}")
            return f"SELECT {FILE_COLUMNS} FROM files WHERE id IN ({names}){seek} ORDER BY {ordering} LIMIT ?"

        return self._keyset(statement, (user_id.lower(), name_key(text)), order, limit, after)

    def _keyset(self, statement: Callable[[int, str, str], str], params: tuple, order: Order, limit: int,
                after: Position | None) -> list[FileRecord]:
        """Up to `limit` live rows, folders then files, each in `order` after
        `after` (see the module doc): `statement(is_file, seek, ordering)` is
        the SQL of one kind, taking `params`, the seek's two values if any,
        and the number of rows."""
        column = SORT_COLUMN[order.field]
        direction, beyond = ("DESC", "<") if order.descending else ("ASC", ">")
        ordering = f"{column} {direction}, id {direction}"
        found: list[FileRecord] = []
        for is_file in (0, 1):
            if limit - len(found) <= 0:
                break
            if after is not None and not after.is_folder and is_file == 0:
                continue  # the last page ended among the files
            seek, values = "", params
            if after is not None and after.is_folder == (is_file == 0):
                seek, values = f" AND ({column}, id) {beyond} (?, ?)", (*params, after.value, after.id)
            rows = self._read(statement(is_file, seek, ordering), (*values, limit - len(found))).fetchall()
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
