"""Each backend's schema for the operator: where it stands (`check`, which
changes nothing) and bringing it up to date (`migrate`).

One `Schema` per URL scheme in `SCHEMAS`. A backend with numbered
migrations (SQLite, PostgreSQL) reports versions and applies the
missing ones in order, idempotently, under a lock the database itself holds
so two nodes migrating at once are safe: SQLite's write lock (one IMMEDIATE
transaction, the version read again inside it: sqlite_migrations.migrate);
PostgreSQL's `pg_advisory_xact_lock` around the same steps in one
transaction (pg_migrations.migrate). MongoDB has no schema, only indexes, which createIndex makes
idempotently and safely from any number of processes: its "migration" is
creating the missing ones (mongo_setup.prepare, also run at every open).

The service itself migrates at start (storage.migrate = "auto"), or refuses
an old schema ("manual"); `migrate` lets an operator do it first, on one
node, and see what was done.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from ..config import redact
from ..errors import StorageUnavailable
from .sqlite_core import connect, sqlite_path
from .sqlite_migrations import LATEST, MIGRATIONS, fill_email_keys, fill_file_keys, schema_version
from .sqlite_migrations import migrate as migrate_sqlite


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands. `version`/`latest` are None for a backend
    without numbered migrations; `pending` names what `migrate` would do."""

    backend: str
    server_version: str
    version: int | None = None
    latest: int | None = None
    pending: tuple[str, ...] = ()
    exists: bool = True  # False: a SQLite file not created yet (the first start, or migrate, makes it)

    @property
    def too_new(self) -> bool:
        """Written by a newer version of this service: this one must not use it."""
        return self.version is not None and self.latest is not None and self.version > self.latest


@dataclass(frozen=True)
class Migration:
    """What `migrate` did: from and to which version, each step (a migration's
    summary, an index created), and what it could not do."""

    backend: str
    from_version: int | None
    to_version: int | None
    applied: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()


class Schema(Protocol):
    async def inspect(self, url: str) -> SchemaState:
        """Raises StorageUnavailable when the database does not answer."""

    async def migrate(self, url: str) -> Migration:
        """Raises StorageUnavailable when the database does not answer."""


def _sqlite_steps(after: int) -> tuple[str, ...]:
    """`v5: <the first sentence of its docstring>` for each migration after version `after`."""
    return tuple(f"v{number}: {_first_sentence(step.__doc__ or step.__name__)}"
                 for number, step in enumerate(MIGRATIONS, start=1) if number > after)


def _first_sentence(doc: str) -> str:
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    return re.split(r"(?<=[.])\s", paragraph, maxsplit=1)[0] if ". " in paragraph else paragraph


class SQLiteSchema:
    async def inspect(self, url: str) -> SchemaState:
        path = sqlite_path(url)

        def read() -> SchemaState:
            server = sqlite3.sqlite_version
            if not path.exists():
                return SchemaState("sqlite", server, 0, LATEST, _sqlite_steps(0), exists=False)
            try:  # read-only: a check changes nothing, not even the journal mode
                conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
                try:
                    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                    version = schema_version(conn)
                finally:
                    conn.close()
            except sqlite3.Error as exc:
                raise StorageUnavailable(f"SQLite database {path}: {exc}") from None
            pending = _sqlite_steps(version)
            return SchemaState("sqlite", server, version, LATEST, pending)

        return await asyncio.to_thread(read)

    async def migrate(self, url: str) -> Migration:
        path = sqlite_path(url)

        def run() -> Migration:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                conn = connect(path)
                try:
                    conn.execute("PRAGMA journal_mode = WAL")
                    found = migrate_sqlite(conn, path)  # the version found under the lock
                    fill_email_keys(conn, path)
                    fill_file_keys(conn)
                finally:
                    conn.close()
            except (sqlite3.Error, OSError) as exc:
                raise StorageUnavailable(f"SQLite database {path}: {exc}") from None
            return Migration("sqlite", found, LATEST, _sqlite_steps(found))

        return await asyncio.to_thread(run)


class PostgresSchema:
    """Numbered SQL migrations (pg_migrations.py), versions in `schema_migrations`."""

    async def inspect(self, url: str) -> SchemaState:
        from .pg_migrations import LATEST as PG_LATEST
        from .pg_migrations import schema_version as pg_version
        from .pg_migrations import steps_after

        async with _postgres(url) as conn:
            server = await conn.fetchval("SHOW server_version")
            version = await pg_version(conn)
        return SchemaState("postgresql", str(server).split(" ")[0], version, PG_LATEST, steps_after(version))

    async def migrate(self, url: str) -> Migration:
        from .pg_migrations import LATEST as PG_LATEST
        from .pg_migrations import migrate as migrate_pg
        from .pg_migrations import steps_after

        async with _postgres(url) as conn:
            found = await migrate_pg(conn, redact(url))  # the version found under the lock
        return Migration("postgresql", found, PG_LATEST, steps_after(found))


@asynccontextmanager
async def _postgres(url: str) -> AsyncIterator[Any]:
    """A connection to the URL's database, closed on the way out; driver errors as StorageUnavailable."""
    import asyncpg

    driver_errors = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)
    try:
        conn = await asyncpg.connect(url, timeout=10)
    except driver_errors as exc:
        raise StorageUnavailable(f"PostgreSQL at {redact(url)} does not answer: {type(exc).__name__}: {exc}") from None
    try:
        yield conn
    except driver_errors as exc:  # refused by the server: a missing privilege, say
        raise StorageUnavailable(f"PostgreSQL at {redact(url)}: {type(exc).__name__}: {exc}") from None
    finally:
        await conn.close()


class MongoSchema:
    """Indexes are the schema: `pending` lists the missing ones by collection.index."""

    async def inspect(self, url: str) -> SchemaState:
        async with _mongo(url) as (client, db):
            info = await client.admin.command("buildInfo")
            return SchemaState("mongodb", str(info.get("version", "?")), pending=await _missing_indexes(db))

    async def migrate(self, url: str) -> Migration:
        from .mongo_setup import prepare

        async with _mongo(url) as (_client, db):
            before = await _missing_indexes(db)
            await prepare(db)  # creates what is missing, warns about what it cannot
            after = set(await _missing_indexes(db))
        return Migration("mongodb", None, None, tuple(i for i in before if i not in after), tuple(sorted(after)))


def _expected_indexes() -> dict[str, tuple[str, ...]]:
    from .mongo_setup import FILE_INDEXES

    return {"users": ("emailKey_1", "email_1"), "files": tuple(name for name, _ in FILE_INDEXES),
            "shareLinks": ("tokenHash_1", "by_file"), "uploads": ("expiresAt_1",)}


async def _missing_indexes(db: Any) -> tuple[str, ...]:
    missing: list[str] = []
    for collection, names in _expected_indexes().items():
        present = {index["name"] async for index in await db[collection].list_indexes()}
        missing.extend(f"{collection}.{name}" for name in names if name not in present)
    return tuple(missing)


@asynccontextmanager
async def _mongo(url: str) -> AsyncIterator[tuple[Any, Any]]:
    """A client on the URL's database, closed on the way out; driver errors as StorageUnavailable."""
    from pymongo import AsyncMongoClient
    from pymongo.errors import PyMongoError

    from .mongo import DEFAULT_DATABASE

    client: Any = None
    try:
        try:
            client = AsyncMongoClient(url, serverSelectionTimeoutMS=5000, appname="files-manager-cli")
            db = client.get_default_database(default=DEFAULT_DATABASE)
        except ValueError as exc:
            raise StorageUnavailable(f"MongoDB at {redact(url)}: {exc}") from None
        yield client, db
    except PyMongoError as exc:
        raise StorageUnavailable(f"MongoDB at {redact(url)} does not answer: {exc}") from None
    finally:
        if client is not None:
            await client.close()


SCHEMAS: dict[str, Schema] = {"sqlite": SQLiteSchema(), "postgresql": PostgresSchema(), "postgres": PostgresSchema(),
                               "mongodb": MongoSchema(), "mongodb+srv": MongoSchema()}


def schema_of(url: str) -> Schema:
    scheme = url.partition(":")[0]
    found = SCHEMAS.get(scheme)
    if found is None:
        raise ValueError(f"unsupported database URL: {url!r}")
    return found
