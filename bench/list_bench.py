"""List benchmark: GET /v2/files in a folder of 100,000 files, page 5,000
against page 1 in every sort order, and a name search (`q`) against the bare
SQL query doing the same match, in the same run.

    .venv/bin/python bench/list_bench.py [--rounds 5] [--list-reps 100] [--search-reps 15]

One API worker process as the service runs it (bench/api_servers.py `ours`:
create_app, an API worker's runner options and listener) serves a SQLite
database filled by bench/list_fill.py; it is pinned to CPU 1, Redis to CPU 0.
This process sends the requests from CPU 0 and runs the bare SQL on CPU 1,
so the server's queries and the bare ones share a CPU and whatever else the
machine runs there. Requests go one at a
time over one keep-alive connection; a latency is from sending the request
to the last byte of the body. Page 5,000's cursor comes from following
`next` from page 1 (which also checks that the walk sees every file once, in
order). The bare SQL runs here, on its own connection to the same file: the
same WHERE on the same table (the planner picks the index), the same columns,
the same rows as the page (checked), and nothing else; and, stricter, the
same match written for the covering index the storage uses (search_names).
The storage's own search_files also runs here, to split SQL from HTTP.

Each round runs every case in turn, request by request, in reverse order every
other request, so drift in the machine's speed hits both sides of a ratio
alike; a case's figure is its median latency in the round, a ratio is taken
per round, and the table gives the median over rounds.

Bars (../shared/spec/performance.md, "Lists and search"): page 5,000 within
1.5x the latency of page 1; a name search within 2x the bare SQL query.

    .venv/bin/python bench/list_bench.py --backend postgres [--files 1000000] [--rounds 5]

On PostgreSQL (../shared/spec/scale-out.md: page 1, page 5,000 and a name
search within 2x of each other at 1 M file rows) the database is one of its
own on the machine's server (tests/engines/postgres.py `pg_database`, dropped
at the end), filled by COPY (bench/list_fill.py). Page 5,000's cursor is
found by following `next` from page 1 up to it (checking order and that no
file comes twice); the bare SQL runs here through asyncpg on a connection of
its own. The server's backends are not pinned (PostgreSQL forks one per
connection).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, nothing_left_behind, python_server, redis_server
from bench.list_fill import fill, pick_query, plan
from shared.storage import open_storage

SERVER_CPU, CLIENT_CPU = 1, 0
LIMIT = 20
SORTS = {  # the API's sort: (the column compared, descending)
    "name": ("name_key", False), "-name": ("name_key", True),
    "updatedAt": ("updated_at", False), "-updatedAt": ("updated_at", True),
    "size": ("size_key", False), "-size": ("size_key", True),
}


class Client:
    """One keep-alive HTTP/1.1 connection with the user's token."""

    def __init__(self, base: str, token: str) -> None:
        where = urlsplit(base)
        self.host, self.port = where.hostname or "127.0.0.1", where.port or 80
        self.headers = {"X-Token": token}
        self.conn = http.client.HTTPConnection(self.host, self.port)

    def get(self, path: str) -> tuple[float, bytes]:
        """(seconds from sending to the body's last byte, body); anything but 200 is an error."""
        for attempt in (1, 2):
            try:
                start = time.perf_counter()
                self.conn.request("GET", path, headers=self.headers)
                response = self.conn.getresponse()
                body = response.read()
                elapsed = time.perf_counter() - start
                break
            except (http.client.RemoteDisconnected, ConnectionError):
                if attempt == 2:
                    raise
                self.conn.close()  # the server closed an idle connection: a new one, not timed
                self.conn = http.client.HTTPConnection(self.host, self.port)
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body[:300]!r}")
        return elapsed, body


def list_path(folder_id: str, sort: str, cursor: str | None = None, limit: int = LIMIT) -> str:
    path = f"/v2/files?parentId={folder_id}&sort={quote(sort)}&limit={limit}"
    return path + (f"&cursor={cursor}" if cursor else "")


def search_path(text: str, sort: str, limit: int = LIMIT) -> str:
    return f"/v2/files?q={quote(text)}&sort={quote(sort)}&limit={limit}"


def _sort_value(item: dict, sort: str) -> object:
    field = sort.lstrip("-")
    return item["name"].casefold() if field == "name" else item[field]


def walk(client: Client, folder_id: str, sort: str, files: int, page: int, to_the_end: bool = True) -> str:
    """The cursor of page `page`, from following `next` from page 1 to the
    end (or, not `to_the_end`, to page `page`); checks that the walk sees
    each of the folder's `files` once (or none twice), in `sort`'s order."""
    seen: set[str] = set()
    previous: object = None
    cursor, target = None, ""
    descending = sort.startswith("-")
    for number in range(1, files // LIMIT + 2):
        if number == page:
            target = cursor or ""
            if not to_the_end:
                if len(seen) != (page - 1) * LIMIT:
                    raise AssertionError(f"sort {sort}: {len(seen)} files before page {page}, some twice")
                return target
        _, body = client.get(list_path(folder_id, sort, cursor))
        answer = json.loads(body)
        for item in answer["items"]:
            value = _sort_value(item, sort)
            if previous is not None and (value < previous if not descending else value > previous):
                raise AssertionError(f"sort {sort}: page {number} out of order")
            previous = value
            seen.add(item["id"])
        cursor = answer["next"]
        if cursor is None:
            break
    if len(seen) != files or not target:
        raise AssertionError(f"sort {sort}: walked {len(seen)} of {files} files, page {page} not reached")
    return target


def bare_statement(sort: str, limit: int | None) -> str:
    """The search as anyone would write it: the same WHERE, the planner's pick."""
    from shared.storage.sqlite_core import FILE_COLUMNS

    column, descending = SORTS[sort]
    direction = "DESC" if descending else "ASC"
    return (f"SELECT {FILE_COLUMNS} FROM files WHERE user_id = ? AND instr(name_key, ?) > 0"
            f" AND trashed_at IS NULL ORDER BY is_file, {column} {direction}, id {direction}"
            + ("" if limit is None else f" LIMIT {limit}"))


def bare_covering_statement(sort: str, limit: int | None) -> str:
    """The same match written for the covering index (sqlite_migrations v4):
    names tested in search_names, only matches' rows read; in name order the
    index's order and LIMIT stop the read early (the same rows as the page
    here, where no folder matches: checked)."""
    from shared.storage.sqlite_core import FILE_COLUMNS

    column, descending = SORTS[sort]
    direction = "DESC" if descending else "ASC"
    ordering = f"{column} {direction}, id {direction}"
    names = ("SELECT id FROM files INDEXED BY search_names WHERE user_id = ? AND instr(name_key, ?) > 0"
             " AND trashed_at IS NULL")
    if column == "name_key" and limit is not None:
        return (f"SELECT {FILE_COLUMNS} FROM files WHERE id IN ({names} ORDER BY {ordering} LIMIT {limit})"
                f" ORDER BY is_file, {ordering}")
    return (f"SELECT {FILE_COLUMNS} FROM files WHERE id IN ({names}) ORDER BY is_file, {ordering}"
            + ("" if limit is None else f" LIMIT {limit}"))


def bare_list_statement() -> str:
    from shared.storage.sqlite_core import FILE_COLUMNS

    return (f"SELECT {FILE_COLUMNS} FROM files WHERE user_id = ? AND parent_id = ? AND trashed_at IS NULL"
            f" ORDER BY is_file, name_key, id LIMIT {LIMIT}")


def on_cpu(cpu: int) -> None:
    """Move this process to `cpu` (on a machine with more than one)."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {cpu})


def timed_sql(conn: sqlite3.Connection, sql: str, params: tuple) -> Callable[[], float]:
    def run() -> float:
        on_cpu(SERVER_CPU)  # the CPU the server's queries run on, whatever else the machine runs there
        start = time.perf_counter()
        conn.execute(sql, params).fetchall()
        return time.perf_counter() - start
    return run


def timed_storage(loop: asyncio.AbstractEventLoop, storage: Any, user_id: str, text: str, sort: str,
                  limit: int) -> Callable[[], float]:
    """The storage's search_files in this process, as the route calls it (limit + 1 rows)."""
    from services.api.list_params import SORTS as ORDERS

    async def once() -> float:
        on_cpu(SERVER_CPU)
        start = time.perf_counter()
        await storage.search_files(user_id, text, ORDERS[sort], limit + 1, None)
        return time.perf_counter() - start
    return lambda: loop.run_until_complete(once())


def timed_get(client: Client, path: str) -> Callable[[], float]:
    def run() -> float:
        on_cpu(CLIENT_CPU)
        return client.get(path)[0]
    return run


def same_rows(client: Client, path: str, conn: sqlite3.Connection, sql: str, params: tuple) -> int:
    """The page at `path` and the bare query return the same ids in the same order; how many."""
    page = [item["id"] for item in json.loads(client.get(path)[1])["items"]]
    rows = [row[0] for row in conn.execute(sql, params)]
    if page != rows:
        raise AssertionError(f"{path}: {len(page)} items, the bare SQL {len(rows)} rows, not the same")
    return len(rows)


def measure(cases: dict[str, Callable[[], float]], reps: int) -> dict[str, float]:
    """Every case once per repetition, in reverse order every other one; the median of each, in ms."""
    names = list(cases)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(reps):
        for name in names if rep % 2 == 0 else names[::-1]:
            samples[name].append(cases[name]())
    return {name: statistics.median(values) * 1e3 for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--files", type=int, default=None,
                        help="files in the big folder (100,000; 1,000,000 on PostgreSQL)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--list-reps", type=int, default=100, help="requests per list case per round")
    parser.add_argument("--search-reps", type=int, default=15, help="requests per search case per round")
    args = parser.parse_args()
    if args.backend == "postgres":
        args.files = args.files or 1_000_000
        from bench.list_bench_pg import main_postgres

        main_postgres(args)
        return
    args.files = args.files or 100_000
    page = args.files // LIMIT
    on_cpu(CLIENT_CPU)

    with tempfile.TemporaryDirectory(prefix="list-bench-") as tmp, redis_server(cpu=CLIENT_CPU) as redis_url:
        db_path = f"{tmp}/bench.sqlite3"
        env = {**os.environ, "REDIS_URL": redis_url, "DB_URL": f"sqlite:///{db_path}",
               "FOLDER_PATH": f"{tmp}/files", "LOG_FORMAT": "json", "PYTHONPATH": str(ROOT)}
        started = time.monotonic()
        filled = asyncio.run(fill(env["DB_URL"], redis_url, files=args.files, other_folders=20,
                                  per_other_folder=100, other_users=3, per_other_user=20_000, words=600))
        names = len(filled.names)  # a few hundred matches in 100,000 names: 0.2-0.6 %
        text, matches = pick_query(filled.names, sorted(filled.words, key=len, reverse=True),
                                   max(1, names // 500), names * 3 // 500)
        print(f"filled in {time.monotonic() - started:.0f} s: {args.files:,} files in one folder, "
              f"{len(filled.names) - args.files - 21:,} more in 20 folders, {filled.other_rows:,} of 3 other users;"
              f" q={text!r} matches {matches} names", flush=True)

        with python_server("api_servers.py", ["ours"], "/status", env=env, cpu=SERVER_CPU) as (base, _pids):
            client = Client(base, filled.token)
            conn = sqlite3.connect(db_path, isolation_level=None)
            loop = asyncio.new_event_loop()
            storage = loop.run_until_complete(open_storage(env["DB_URL"]))
            user_id, key = filled.user_id, text.casefold()

            started = time.monotonic()
            cursors = {sort: walk(client, filled.folder_id, sort, args.files, page) for sort in SORTS}
            print(f"walked {len(SORTS)} x {page:,} pages in {time.monotonic() - started:.0f} s", flush=True)

            list_cases: dict[str, Callable[[], float]] = {}
            for sort in SORTS:
                list_cases[f"page 1, {sort}"] = timed_get(client, list_path(filled.folder_id, sort))
                list_cases[f"page {page}, {sort}"] = timed_get(client, list_path(filled.folder_id, sort,
                                                                                  cursors[sort]))
            list_cases["bare SQL: folder page 1, name"] = timed_sql(conn, bare_list_statement(),
                                                                    (user_id, filled.folder_id))
            same_rows(client, list_path(filled.folder_id, "name"), conn, bare_list_statement(),
                      (user_id, filled.folder_id))

            search_cases: dict[str, Callable[[], float]] = {}
            returned: dict[str, int] = {}
            searches = [(sort, LIMIT, sort) for sort in SORTS] + [("all matches", 1000, "name")]
            for label, limit, sort in searches:
                path = search_path(text, sort, limit)
                bare_limit = None if limit == 1000 else limit
                search_cases[f"search, {label}"] = timed_get(client, path)
                search_cases[f"storage: search, {label}"] = timed_storage(loop, storage, user_id, text, sort, limit)
                for kind, statement in (("bare SQL", bare_statement), ("bare SQL, covering", bare_covering_statement)):
                    sql = statement(sort, bare_limit)
                    search_cases[f"{kind}: search, {label}"] = timed_sql(conn, sql, (user_id, key))
                    returned[label] = same_rows(client, path, conn, sql, (user_id, key))
            assert returned["all matches"] == matches, (returned, matches)
            plans = {"search": plan(conn, bare_statement("name", LIMIT), (user_id, key)),
                     "search, covering": plan(conn, bare_covering_statement("-updatedAt", LIMIT), (user_id, key)),
                     "folder page": plan(conn, bare_list_statement(), (user_id, filled.folder_id))}

            measure(list_cases, 10)  # warm-up
            measure(search_cases, 2)
            rounds: list[dict[str, float]] = []
            for number in range(args.rounds):
                phases = [(list_cases, args.list_reps), (search_cases, args.search_reps)]
                result: dict[str, float] = {}
                for cases, reps in phases if number % 2 == 0 else phases[::-1]:
                    result.update(measure(cases, reps))
                rounds.append(result)
                print(f"round {number + 1}/{args.rounds} done", flush=True)
            conn.close()
            loop.run_until_complete(storage.close())
            loop.close()

    report(rounds, page, matches, returned, plans)


def report(rounds: list[dict[str, float]], page: int, matches: int, returned: dict[str, int],
           plans: dict[str, list[str]]) -> None:
    def median_of(name: str) -> float:
        return statistics.median(r[name] for r in rounds)

    def ratio(top: str, *bottoms: str) -> tuple[float, list[float]]:
        """Per round, `top` over the fastest of `bottoms`; the median of those."""
        per_round = [r[top] / min(r[b] for b in bottoms) for r in rounds]
        return statistics.median(per_round), per_round

    def verdict(value: float, bar: float) -> str:
        return f"{value:.2f} {'met' if value <= bar else 'MISSED'}"

    print(f"\n{'case':44} {'median ms':>10}   (per round)")
    for name in rounds[0]:
        print(f"{name:44} {median_of(name):10.3f}   {' '.join(f'{r[name]:.3f}' for r in rounds)}")
    ratios: dict[str, float] = {}

    print("\nLists, bar <= 1.5 (medians of per-round ratios; per round)")
    for sort in SORTS:
        value, per_round = ratio(f"page {page}, {sort}", f"page 1, {sort}")
        ratios[f"page {page} / page 1, {sort}"] = value
        print(f"  page {page} / page 1, {sort:11} {verdict(value, 1.5):12} {' '.join(f'{r:.2f}' for r in per_round)}")

    print("\nSearch, bar <= 2.0: over HTTP / the bare SQL (the planner's pick), / the faster of it and the"
          " statement\nwritten for the covering index; the storage's search_files in this process (no HTTP)"
          " / the faster")
    print(f"  {'search':22} {'rows':>5} {'HTTP ms':>8} {'storage':>8} {'bare':>8} {'covering':>9}"
          f" {'/ bare':>11} {'/ faster':>12} {'storage / faster':>17}")
    for label in (*SORTS, "all matches"):
        bare, covering = f"bare SQL: search, {label}", f"bare SQL, covering: search, {label}"
        to_bare, _ = ratio(f"search, {label}", bare)
        to_faster, _ = ratio(f"search, {label}", bare, covering)
        storage, _ = ratio(f"storage: search, {label}", bare, covering)
        ratios.update({f"search / bare SQL, {label}": to_bare, f"search / faster bare SQL, {label}": to_faster,
                       f"storage / faster bare SQL, {label}": storage})
        rows = matches if label == "all matches" else returned[label]
        print(f"  {label:22} {rows:5d} {median_of(f'search, {label}'):8.2f} {median_of(f'storage: search, {label}'):8.2f}"
              f" {median_of(bare):8.2f} {median_of(covering):9.2f} {verdict(to_bare, 2.0):>11}"
              f" {verdict(to_faster, 2.0):>12} {storage:17.2f}")

    print("\nHTTP's share")
    for label, top, bottom in (("search, name / page 1, name (both over HTTP)", "search, name", "page 1, name"),
                               ("page 1, name / its bare SQL", "page 1, name", "bare SQL: folder page 1, name")):
        value, per_round = ratio(top, bottom)
        ratios[label] = value
        print(f"  {label:46} {value:6.2f}   {' '.join(f'{r:.2f}' for r in per_round)}")
    print("\nbare SQL plans: " + "; ".join(f"{name}: {' / '.join(steps)}" for name, steps in plans.items()))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "list_bench.json").write_text(json.dumps({"rounds": rounds, "ratios": ratios, "plans": plans}, indent=2))


if __name__ == "__main__":
    with nothing_left_behind():
        main()
