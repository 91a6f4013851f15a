"""PostgreSQL query plans at scale: with 120,000 files in one folder (and
another user's 30,000 beside them), every v2 list order is an index seek (no
sequential scan, no sort), and page 5,000 reads as many buffers as page 1; a
name search is answered from an index, the trigram one for a rare text. v1
pages are one seek too.

The statements are the ones the storage actually runs (captured with
asyncpg's query logger on the storage's own pool), explained with the
parameters they ran with (EXPLAIN ANALYZE, BUFFERS: counts, not times). A list is one statement
(folders' seek, then files'), so the only sort is of those two pages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from shared.storage import Order, Position, name_key
from shared.storage.pg import PostgresStorage
from shared.storage.pg_migrations import migrate
from tests.engines.postgres import NoPostgres, pg_database

FILES = 120_000
OTHERS = 30_000
PAGE = 20
USER = "65a000000102030405000001"
OTHER = "65a000000102030405000009"
FOLDER = "65a000000102030405000002"
ORDERS = [Order(field, descending) for field in ("name", "updated_at", "size") for descending in (False, True)]
_COLUMNS = ["id", "user_id", "name", "type", "is_public", "parent_id", "local_path", "seq", "size", "sha256",
            "mime_type", "created_at", "updated_at", "has_thumbnails", "name_key"]


def file_id(n: int) -> str:
    return f"65b{n:021x}"


def _rows(user: str, count: int, first: int) -> Iterator[tuple]:
    for n in range(first, first + count):
        folder = n - first >= count - 50  # 50 folders after the files
        name = f"{'dir' if folder else 'File'}-{(n * 7919) % 100_003:06d}"
        yield (file_id(n), user, name, "folder" if folder else "file", False, FOLDER if user == USER else "0",
               None if folder else f"/tmp/fm/{n}", n - first, 0 if folder else (n * 31) % 5000, None,
               None if folder else "text/plain", float(n), float((n * 13) % 9973), False, name_key(name))


async def _fill(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn, "plans")
        await conn.execute("INSERT INTO users (id, email, password, email_key, created_at) VALUES"
                           " ($1, 'a@x.io', 'h', 'a@x.io', 0), ($2, 'b@x.io', 'h', 'b@x.io', 0)", USER, OTHER)
        await conn.execute("INSERT INTO files (id, user_id, name, type, parent_id, seq, size, created_at,"
                           " updated_at, name_key) VALUES ($1, $2, 'big', 'folder', '0', 0, 0, 0, 0, 'big')",
                           FOLDER, USER)
        await conn.copy_records_to_table("files", records=_rows(USER, FILES, 0), columns=_COLUMNS)
        await conn.copy_records_to_table("files", records=_rows(OTHER, OTHERS, FILES), columns=_COLUMNS)
        await conn.execute("VACUUM ANALYZE files")
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def big_url() -> Iterator[str]:
    try:
        with pg_database(prefix="fm_plans") as url:
            asyncio.run(_fill(url))
            yield url
    except NoPostgres as exc:
        pytest.fail(str(exc))


class Captured:
    def __init__(self) -> None:
        self.queries: list[tuple[str, tuple]] = []

    def __call__(self, record: Any) -> None:
        self.queries.append((record.query, tuple(record.args)))


@pytest.fixture
async def traced(big_url: str) -> AsyncIterator[tuple[PostgresStorage, Captured, asyncpg.Connection]]:
    captured = Captured()

    async def init(conn: asyncpg.Connection) -> None:
        conn.add_query_logger(captured)

    pool = await asyncpg.create_pool(big_url, min_size=1, max_size=2, init=init)
    storage = PostgresStorage(big_url, pool, 10.0)
    explainer = await asyncpg.connect(big_url)
    yield storage, captured, explainer
    await explainer.close()
    await storage.close()


async def explain(conn: asyncpg.Connection, query: str, args: tuple) -> dict:
    raw = await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {query}", *args)
    return json.loads(raw)[0]["Plan"]


def nodes(plan: dict) -> list[dict]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += nodes(child)
    return found


def only_a_page_sorted(plan: dict) -> None:
    """Rows are sorted only once each kind's seek has stopped at a page: a
    Sort takes at most two pages (folders' and files'), never the folder."""
    for node in nodes(plan):
        if node["Node Type"] == "Sort":
            assert all(child["Actual Rows"] <= 2 * PAGE for child in node["Plans"]), node


def summary(plan: dict, depth: int = 0) -> str:
    """The plan as lines: node, index, conditions, rows, buffers (for a failure's message)."""
    line = (f"{' ' * depth}{plan['Node Type']} {plan.get('Index Name', '')} {plan.get('Index Cond', '')}"
            f" {plan.get('Filter', '')} rows={plan.get('Actual Rows')} buffers={buffers(plan)}")
    return "\n".join([line, *(summary(child, depth + 2) for child in plan.get("Plans", []))])


def scanned(plan: dict) -> int:
    """Buffers the plan's scans read (the seek and its rows; not the sort of a page)."""
    return sum(buffers(node) for node in nodes(plan) if node["Node Type"].endswith("Scan"))


def buffers(plan: dict) -> int:
    return plan["Shared Hit Blocks"] + plan["Shared Read Blocks"]


async def run(captured: Captured, call: Any) -> tuple[Any, list[tuple[str, tuple]]]:
    captured.queries.clear()
    result = await call
    return result, [q for q in captured.queries if "FROM files" in q[0]]  # not the pool's reset


async def position_at(conn: asyncpg.Connection, order: Order, index: int) -> Position:
    """The position after the `index`-th file of the big folder in `order` (a page boundary deep down)."""
    column = {"name": "name_key", "updated_at": "updated_at", "size": "size_key"}[order.field]
    direction = "DESC" if order.descending else "ASC"
    row = await conn.fetchrow(
        f"SELECT {column}, id FROM files WHERE user_id = $1 AND parent_id = $2 AND is_file AND trashed_at IS NULL"
        f" ORDER BY {column} {direction}, id {direction} OFFSET $3 LIMIT 1", USER, FOLDER, index)
    return Position(False, row[0], row[1])


@pytest.mark.parametrize("order", ORDERS, ids=lambda o: f"{o.field}-{'desc' if o.descending else 'asc'}")
async def test_page_5000_of_a_list_is_a_seek_as_page_1(traced, order: Order) -> None:
    storage, captured, conn = traced
    first, first_queries = await run(captured, storage.list_files(USER, FOLDER, order, PAGE, None))
    assert len(first) == PAGE and all(r.type == "folder" for r in first[:PAGE])
    after = await position_at(conn, order, 100_000 - 1)
    deep, deep_queries = await run(captured, storage.list_files(USER, FOLDER, order, PAGE, after))
    assert len(deep) == PAGE and all(r.type == "file" for r in deep)
    (deep_query,) = deep_queries  # the folders are skipped: the last page ended among the files
    plan = await explain(conn, *deep_query)
    kinds = {node["Node Type"] for node in nodes(plan)}
    assert "Seq Scan" not in kinds and "Bitmap Heap Scan" not in kinds, kinds
    only_a_page_sorted(plan)
    assert any(node.get("Index Name", "").startswith("live_by_") for node in nodes(plan))
    for query in first_queries:
        first_plan = await explain(conn, *query)
        assert "Seq Scan" not in {node["Node Type"] for node in nodes(first_plan)}
        only_a_page_sorted(first_plan)
    # Page 5,000 reads what an early page of files reads, give or take a page of the index.
    _, (early_query,) = await run(captured, storage.list_files(USER, FOLDER, order, PAGE,
                                                                await position_at(conn, order, PAGE - 1)))
    early = await explain(conn, *early_query)
    assert scanned(plan) <= scanned(early) + 8, (summary(plan), summary(early))


async def test_v1_page_5000_is_a_seek(traced) -> None:
    storage, captured, conn = traced
    page, queries = await run(captured, storage.children(USER, FOLDER, 5000))
    assert len(page) == PAGE
    plan = await explain(conn, *queries[0])
    assert {node.get("Index Name") for node in nodes(plan)} & {"files_by_parent"}
    assert "Seq Scan" not in {node["Node Type"] for node in nodes(plan)}
    assert buffers(plan) < 50


async def test_a_rare_name_is_found_through_the_trigram_index(traced) -> None:
    storage, captured, conn = traced
    found, queries = await run(captured, storage.search_files(USER, "e-012345", Order(), PAGE, None))
    assert [r.name for r in found] == ["File-012345"]
    plans = [await explain(conn, *q) for q in queries]
    for plan in plans:
        assert "Seq Scan" not in {node["Node Type"] for node in nodes(plan)}
    used = {node.get("Index Name") for plan in plans for node in nodes(plan)}
    assert "search_trigrams" in used, used
    assert max(buffers(plan) for plan in plans) < 200


async def test_a_common_name_is_a_walk_of_the_names_that_stops_when_the_page_is_full(traced) -> None:
    storage, captured, conn = traced
    found, queries = await run(captured, storage.search_files(USER, "file-", Order(), PAGE, None))
    assert len(found) == PAGE and [r.name for r in found] == sorted(r.name for r in found)
    plans = [await explain(conn, *q) for q in queries]
    for plan in plans:
        assert "Seq Scan" not in {node["Node Type"] for node in nodes(plan)}
    assert max(buffers(plan) for plan in plans) < 200
