"""SQLite query plans at scale: with 100,000 files in one folder, every v2
list order is an index seek (no scan, no temp b-tree), and page 5,000 costs
what page 1 costs, counted in SQLite VM steps (deterministic, unlike time).
The v1 look-up by id stays one primary-key search, v1 pages one seek.

The statements are the ones the storage actually runs (captured with the
reader's trace callback, parameters expanded), so the plans checked are the
plans served. ANALYZE'd statistics must not change them (INDEXED BY)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from shared.storage import NewFile, Order, open_storage, position_of
from shared.storage.sqlite import SQLiteStorage

FILES = 100_000
PAGE = 20
USER = "65a000000102030405000001"
FOLDER = "65a000000102030405000002"
ORDERS = [Order(field, descending) for field in ("name", "updated_at", "size") for descending in (False, True)]


def file_id(n: int) -> str:
    return f"65b{n:021x}"


@pytest.fixture(scope="module")
def big_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user with a folder of FILES files and 50 folders (built once for the module)."""
    path = tmp_path_factory.mktemp("plans") / "big.sqlite3"
    asyncio.run(_create_schema(path))
    with sqlite3.connect(path) as db:
        # Indexes built once after the rows rather than grown row by row: the
        # schema's own statements, dropped and run again.
        indexes = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                             " AND tbl_name = 'files' AND sql IS NOT NULL").fetchall()
        for name, _ in indexes:
            db.execute(f"DROP INDEX {name}")
        db.execute("INSERT INTO users (id, email, password, email_key, created_at)"
                   " VALUES (?, 'a@x.io', 'h', 'a@x.io', 0)", (USER,))
        db.execute("INSERT INTO files (id, user_id, name, type, parent_id, seq, size, created_at, updated_at,"
                   " name_key) VALUES (?, ?, 'big', 'folder', '0', 0, 0, 0, 0, 'big')", (FOLDER, USER))
        rows = []
        for n in range(FILES + 50):
            folder = n >= FILES
            name = f"{'dir' if folder else 'File'}-{(n * 7919) % 100_003:06d}"
            rows.append((file_id(n), USER, name, "folder" if folder else "file", FOLDER, n,
                         None if folder else f"/tmp/fm/{n}", 0 if folder else (n * 31) % 5000,
                         float(n), float((n * 13) % 9973), name.casefold()))
        db.executemany("INSERT INTO files (id, user_id, name, type, parent_id, seq, local_path, size, created_at,"
                       " updated_at, name_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        for _, sql in indexes:
            db.execute(sql)
    return path


async def _create_schema(path: Path) -> None:
    storage = await open_storage(f"sqlite:///{path}")
    await storage.close()


@pytest.fixture(params=["fresh", "analyzed"])
async def big(request: pytest.FixtureRequest, big_database: Path, tmp_path: Path) -> AsyncIterator[SQLiteStorage]:
    """A copy of the big database for one test, as built and after ANALYZE
    (statistics an operator may gather must not change a plan)."""
    path = tmp_path / "big.sqlite3"
    with sqlite3.connect(big_database) as source, sqlite3.connect(path) as copy:
        source.backup(copy)
        if request.param == "analyzed":
            copy.execute("ANALYZE")
    opened = await open_storage(f"sqlite:///{path}")
    assert isinstance(opened, SQLiteStorage)
    try:
        yield opened
    finally:
        await opened.close()


class Watch:
    """The statements the reader runs, and the VM steps they take."""

    def __init__(self, conn: sqlite3.Connection, kinds: tuple[str, ...] = ("SELECT",)) -> None:
        self.conn = conn
        self.kinds = kinds
        self.statements: list[str] = []
        self.steps = 0

    def __enter__(self) -> Watch:
        self.conn.set_trace_callback(self._trace)
        self.conn.set_progress_handler(self._step, 1)
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.set_trace_callback(None)
        self.conn.set_progress_handler(None, 1)

    def _trace(self, sql: str) -> None:
        if sql.lstrip().upper().startswith(self.kinds):
            self.statements.append(sql)

    def _step(self) -> int:
        self.steps += 1
        return 0

    def plans(self) -> list[str]:
        """Each statement's plan, its lines joined."""
        self.conn.set_progress_handler(None, 1)
        self.conn.set_trace_callback(None)
        return [" | ".join(row[3] for row in self.conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
                for sql in self.statements]


def assert_seeks(plans: list[str], index: str) -> None:
    assert plans, "nothing ran"
    for plan in plans:
        assert plan.startswith(f"SEARCH files USING INDEX {index} ("), plan
        assert "TEMP B-TREE" not in plan and "SCAN" not in plan, plan


async def _page_at(storage: SQLiteStorage, order: Order, item: int) -> Callable:
    """A page of list_files starting after the `item`-th of the folder in `order`
    (50 folders first), found by walking the sort's own index."""
    column = {"name": "name_key", "updated_at": "updated_at", "size": "size_key"}[order.field]
    index = {"name": "live_by_name", "updated_at": "live_by_updated", "size": "live_by_size"}[order.field]
    direction = "DESC" if order.descending else ""
    is_file, offset = (0, item) if item < 50 else (1, item - 50)
    (found,) = storage._read(
        f"SELECT id FROM files INDEXED BY {index} WHERE user_id = ? AND parent_id = ? AND is_file = ?"
        f" AND trashed_at IS NULL ORDER BY {column} {direction}, id {direction} LIMIT 1 OFFSET ?",
        (USER, FOLDER, is_file, offset),
    ).fetchone()
    record = await storage.file_of_user(USER, found)
    assert record is not None
    after = position_of(record, order)
    return lambda: storage.list_files(USER, FOLDER, order, PAGE, after)


async def test_every_order_is_a_seek_and_page_5000_costs_what_page_1_costs(big: SQLiteStorage) -> None:
    for order in ORDERS:
        index = {"name": "live_by_name", "updated_at": "live_by_updated", "size": "live_by_size"}[order.field]
        costs = []
        for start in (None, 40, 5000 * PAGE - 1, FILES + 40):  # first page, among folders, page 5,000, the end
            page = (lambda o=order: big.list_files(USER, FOLDER, o, PAGE, None)) if start is None \
                else await _page_at(big, order, start)
            with Watch(big._reader) as watch:
                listed = await page()
            assert len(listed) == (PAGE if start is None or start < FILES + 40 else 9), (order, start)
            costs.append(watch.steps)
            assert_seeks(watch.plans(), index)
        assert max(costs) <= 2 * costs[0] + 200, (order, costs)


def assert_search_plans(plans: list[str], *, sorted_in_index: bool) -> None:
    """Folders, then files: each name tested in the covering index of its
    kind (no row visited per name), the matches read by primary key; in name
    order the index gives the order (a sort of one page only)."""
    assert len(plans) == 2, plans
    for plan, index in zip(plans, ("search_folders", "search_names"), strict=True):
        steps = plan.split(" | ")
        assert steps[0] == "SEARCH files USING PRIMARY KEY (id=?)", plan
        inner = [step for step in steps if "INDEX" in step]
        assert len(inner) == 1 and inner[0].startswith(f"SEARCH files USING COVERING INDEX {index} (user_id=?"), steps
        assert "SCAN" not in plan, plan
        if sorted_in_index:
            assert steps.count("USE TEMP B-TREE FOR ORDER BY") == 1, steps
            assert steps[-1] == "USE TEMP B-TREE FOR ORDER BY", steps


async def test_search_tests_names_in_a_covering_index(big: SQLiteStorage) -> None:
    for order in (ORDERS[0], ORDERS[1]):
        with Watch(big._reader) as watch:
            found = await big.search_files(USER, "file-0000", order, PAGE, None)
        names = [f.name for f in found]
        assert names[:2] == (["File-000000", "File-000001"] if not order.descending else
                             ["File-000099", "File-000098"]), names
        assert_search_plans(watch.plans(), sorted_in_index=True)
        with Watch(big._reader) as watch:  # the next page: a seek in the index
            following = await big.search_files(USER, "file-0000", order, PAGE, position_of(found[-1], order))
        assert following[0].name == ("File-000020" if not order.descending else "File-000079")
        plans = watch.plans()
        assert len(plans) == 1 and "COVERING INDEX search_names (user_id=? AND (name_key,id)" in plans[0], plans
    for order in ORDERS[2:]:  # other orders sort the matches, after the same index read
        with Watch(big._reader) as watch:
            assert len(await big.search_files(USER, "-0000", order, PAGE, None)) == PAGE
        assert_search_plans(watch.plans(), sorted_in_index=False)


async def test_v1_reads_stay_one_seek(big: SQLiteStorage) -> None:
    with Watch(big._reader) as watch:
        record = await big.file_of_user(USER, file_id(77_777))
    assert record is not None and record.id == file_id(77_777)
    plans = watch.plans()
    assert len(plans) == 1 and plans[0] == "SEARCH files USING PRIMARY KEY (id=?)", plans

    costs = []
    for page in (0, 4_000):
        with Watch(big._reader) as watch:
            assert len(await big.children(USER, FOLDER, page)) == PAGE
        costs.append(watch.steps)
        plans = watch.plans()
        assert plans[-1] == "SEARCH files USING INDEX files_by_parent (user_id=? AND parent_id=? AND seq>?)", plans
    assert costs[1] <= 2 * costs[0] + 200, costs


async def test_writes_visit_their_own_rows_not_the_folder(big: SQLiteStorage) -> None:
    """Create, rename, trash, restore and purge a file in the folder of
    100,000: every statement a seek (by id, parent, trash), none reading all
    the user's files, and a few thousand VM steps in all."""
    with Watch(big._writer, ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")) as watch:
        record = await big.create_file(NewFile(USER, "new", "file", False, FOLDER, "/tmp/fm/new", size=5))
        await big.update_file(USER, record.id, name="renamed", now=1.0)
        box = await big.create_file(NewFile(USER, "box", "folder", False, FOLDER, None))
        await big.update_file(USER, record.id, parent_id=box.id, now=2.0)
        await big.update_file(USER, box.id, parent_id=0, now=3.0)
        await big.update_file(USER, box.id, parent_id=FOLDER, now=3.0)  # a folder: checked for a cycle
        await big.trash_file(USER, box.id, now=4.0)
        await big.restore_file(USER, box.id, now=5.0)
        assert await big.purge_file(USER, box.id) == ["/tmp/fm/new"]
    steps = watch.steps
    assert steps < 20_000, steps
    for plan in watch.plans():
        assert "SCAN files" not in plan and not re.search(r"files USING [A-Z ]*INDEX \w+ \(user_id=\?\)", plan), plan
