"""list_bench.py's PostgreSQL mode (`--backend postgres`): GET /v2/files page
1 against page 5,000 in every sort, and a name search, over 1 M file rows;
and the same queries as bare SQL, all as ratios (see list_bench.py's doc)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import asyncpg

from bench.common import ROOT, python_server, redis_server
from bench.list_bench import (
    CLIENT_CPU,
    LIMIT,
    SERVER_CPU,
    SORTS,
    Client,
    list_path,
    measure,
    on_cpu,
    search_path,
    timed_get,
    timed_storage,
    walk,
)
from bench.list_fill import fill, pick_query
from shared.storage import open_storage
from shared.storage.pg_core import FILE_COLUMNS
from tests.engines.postgres import pg_database

PAGE = 5_000  # the deep page (fewer --files: the last full one)


def bare_list(after: bool) -> str:
    """A folder's page in name order as anyone would write it (the planner's pick of index)."""
    seek = " AND (is_file, name_key, id) > (true, $3, $4)" if after else ""
    return (f"SELECT {FILE_COLUMNS} FROM files WHERE user_id = $1 AND parent_id = $2 AND trashed_at IS NULL{seek}"
            f" ORDER BY is_file, name_key, id LIMIT {LIMIT}")


def bare_search(limit: int) -> str:
    return (f"SELECT {FILE_COLUMNS} FROM files WHERE user_id = $1 AND name_key LIKE $2 AND trashed_at IS NULL"
            f" ORDER BY is_file, name_key, id LIMIT {limit}")


def timed_sql(loop: asyncio.AbstractEventLoop, conn: asyncpg.Connection, sql: str,
              params: tuple) -> Callable[[], float]:
    async def once() -> float:
        on_cpu(SERVER_CPU)
        start = time.perf_counter()
        await conn.fetch(sql, *params)
        return time.perf_counter() - start
    return lambda: loop.run_until_complete(once())


def same_rows(loop: asyncio.AbstractEventLoop, client: Client, path: str, conn: asyncpg.Connection, sql: str,
              params: tuple) -> int:
    page = [item["id"] for item in json.loads(client.get(path)[1])["items"]]
    rows = [row[0] for row in loop.run_until_complete(conn.fetch(sql, *params))]
    if page != rows:
        raise AssertionError(f"{path}: {len(page)} items, the bare SQL {len(rows)} rows, not the same")
    return len(rows)


def main_postgres(args: argparse.Namespace) -> None:
    global PAGE
    PAGE = min(PAGE, args.files // LIMIT - 1)
    on_cpu(CLIENT_CPU)
    with tempfile.TemporaryDirectory(prefix="list-bench-") as tmp, redis_server(cpu=CLIENT_CPU) as redis_url, \
            pg_database(prefix="fm_bench") as db_url:
        env = {**os.environ, "REDIS_URL": redis_url, "DB_URL": db_url, "FOLDER_PATH": f"{tmp}/files",
               "LOG_FORMAT": "json", "PYTHONPATH": str(ROOT)}
        started = time.monotonic()
        filled = asyncio.run(fill(db_url, redis_url, files=args.files, other_folders=20, per_other_folder=100,
                                  other_users=3, per_other_user=20_000, words=3000))
        names = len(filled.names)
        text, matches = pick_query(filled.names, sorted(filled.words, key=len, reverse=True),
                                   max(1, names // 5000), min(1000, names // 1000))
        print(f"filled in {time.monotonic() - started:.0f} s: {args.files:,} files in one folder,"
              f" {names - args.files - 21:,} more in 20 folders, {filled.other_rows:,} of 3 other users;"
              f" q={text!r} matches {matches} names", flush=True)

        with python_server("api_servers.py", ["ours"], "/status", env=env, cpu=SERVER_CPU) as (base, _pids):
            client = Client(base, filled.token)
            loop = asyncio.new_event_loop()
            conn = loop.run_until_complete(asyncpg.connect(db_url))
            storage = loop.run_until_complete(open_storage(db_url))
            user_id, pattern = filled.user_id, f"%{text.casefold()}%"

            started = time.monotonic()
            cursors = {sort: walk(client, filled.folder_id, sort, args.files, PAGE, to_the_end=False)
                       for sort in SORTS}
            print(f"walked {len(SORTS)} x {PAGE:,} pages in {time.monotonic() - started:.0f} s", flush=True)
            deep = loop.run_until_complete(conn.fetchrow(
                "SELECT name_key, id FROM files WHERE user_id = $1 AND parent_id = $2 AND is_file"
                " AND trashed_at IS NULL ORDER BY name_key, id OFFSET $3 LIMIT 1",
                user_id, filled.folder_id, (PAGE - 1) * LIMIT - 1))  # the last of page PAGE - 1
            list_params = (user_id, filled.folder_id)
            deep_params = (*list_params, deep[0], deep[1])

            cases: dict[str, Callable[[], float]] = {}
            for sort in SORTS:
                cases[f"page 1, {sort}"] = timed_get(client, list_path(filled.folder_id, sort))
                cases[f"page {PAGE}, {sort}"] = timed_get(client, list_path(filled.folder_id, sort, cursors[sort]))
            cases["bare SQL: page 1, name"] = timed_sql(loop, conn, bare_list(False), list_params)
            cases[f"bare SQL: page {PAGE}, name"] = timed_sql(loop, conn, bare_list(True), deep_params)
            same_rows(loop, client, list_path(filled.folder_id, "name"), conn, bare_list(False), list_params)
            same_rows(loop, client, list_path(filled.folder_id, "name", cursors["name"]), conn, bare_list(True),
                      deep_params)
            returned: dict[str, int] = {}
            for label, limit in (("search, name", LIMIT), ("search, all matches", 1000)):
                cases[label] = timed_get(client, search_path(text, "name", limit))
                cases[f"storage: {label}"] = timed_storage(loop, storage, user_id, text, "name", limit)
                cases[f"bare SQL: {label}"] = timed_sql(loop, conn, bare_search(limit), (user_id, pattern))
                returned[label] = same_rows(loop, client, search_path(text, "name", limit), conn, bare_search(limit),
                                            (user_id, pattern))
            for sort in SORTS:
                if sort != "name":
                    cases[f"search, {sort}"] = timed_get(client, search_path(text, sort))
            assert returned["search, all matches"] == matches, (returned, matches)
            plans = {name: _plan(loop, conn, sql, params) for name, sql, params in (
                ("page 1", bare_list(False), list_params), (f"page {PAGE}", bare_list(True), deep_params),
                ("search", bare_search(LIMIT), (user_id, pattern)))}

            measure(cases, 5)  # warm-up
            rounds = []
            for number in range(args.rounds):
                rounds.append(measure(cases, args.list_reps))
                print(f"round {number + 1}/{args.rounds} done", flush=True)
            loop.run_until_complete(storage.close())
            loop.run_until_complete(conn.close())
            loop.close()
    report(rounds, matches, plans)


def _plan(loop: asyncio.AbstractEventLoop, conn: asyncpg.Connection, sql: str, params: tuple) -> list[str]:
    rows = loop.run_until_complete(conn.fetch(f"EXPLAIN {sql}", *params))
    return [row[0].strip() for row in rows if "Scan" in row[0]]


def report(rounds: list[dict[str, float]], matches: int, plans: dict[str, list[str]]) -> None:
    def median_of(name: str) -> float:
        return statistics.median(r[name] for r in rounds)

    def ratio(top: str, bottom: str) -> float:
        return statistics.median(r[top] / r[bottom] for r in rounds)

    print(f"\n{'case':40} {'median ms':>10}   (per round)")
    for name in rounds[0]:
        print(f"{name:40} {median_of(name):10.3f}   {' '.join(f'{r[name]:.3f}' for r in rounds)}")
    ratios: dict[str, Any] = {}
    print("\nRatios (medians of per-round ratios); bar: within 2x of each other")
    pairs = [(f"page {PAGE} / page 1, {sort}", f"page {PAGE}, {sort}", f"page 1, {sort}") for sort in SORTS]
    pairs += [("search (20, name) / page 1, name", "search, name", "page 1, name"),
              (f"search (20, name) / page {PAGE}, name", "search, name", f"page {PAGE}, name"),
              (f"bare SQL: page {PAGE} / page 1", f"bare SQL: page {PAGE}, name", "bare SQL: page 1, name"),
              ("bare SQL: search / page 1", "bare SQL: search, name", "bare SQL: page 1, name"),
              ("search over HTTP / its bare SQL", "search, name", "bare SQL: search, name"),
              (f"search, all {matches} / its bare SQL", "search, all matches", "bare SQL: search, all matches"),
              ("storage search / its bare SQL", "storage: search, name", "bare SQL: search, name")]
    for label, top, bottom in pairs:
        ratios[label] = value = ratio(top, bottom)
        print(f"  {label:44} {value:6.2f}")
    print("\nbare SQL plans: " + "; ".join(f"{name}: {' / '.join(steps)}" for name, steps in plans.items()))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "list_bench_pg.json").write_text(json.dumps({"rounds": rounds, "ratios": ratios, "plans": plans},
                                                       indent=2))
