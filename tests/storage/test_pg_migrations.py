"""PostgreSQL's schema: numbered migrations applied once, under an advisory
lock, however many nodes start at once; storage.migrate = "manual" refusing an
old schema (SQLite's too), and a schema from a newer version always refused."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import asyncpg
import pytest

from shared.errors import SchemaMismatch
from shared.storage import open_storage
from shared.storage.pg_migrations import LATEST, MIGRATION_LOCK, MIGRATIONS, migrate, schema_version
from shared.storage.schema import PostgresSchema
from tests.conftest import until


async def versions(url: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        return [row[0] for row in await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")]
    finally:
        await conn.close()


async def test_nodes_opening_a_new_database_at_once_migrate_it_once(pg_db_url: str) -> None:
    """Migrators queued on the lock while another holds it and migrates: each
    read the version (0) before queueing, and reads it again under the lock."""
    holder = await asyncpg.connect(pg_db_url)
    waiters: list[asyncpg.Connection] = []
    try:
        tr = holder.transaction()
        await tr.start()
        await holder.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        waiters = [await asyncpg.connect(pg_db_url) for _ in range(6)]
        tasks = [asyncio.create_task(migrate(conn, "test")) for conn in waiters]

        async def all_waiting() -> bool:
            return await holder.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted") == len(tasks)

        await until(all_waiting, "every migrator queued on the advisory lock")
        assert await migrate(holder, "test") == 0  # the holder migrates (the lock is re-entrant)
        await tr.commit()
        found = await asyncio.gather(*tasks)
    finally:
        for conn in (holder, *waiters):
            await conn.close()
    assert found == [LATEST] * 6  # each found it done under the lock, and did nothing
    assert await versions(pg_db_url) == list(range(1, LATEST + 1))


async def test_concurrent_opens_and_migrate_commands_all_succeed(pg_db_url: str) -> None:
    opened = await asyncio.gather(*(open_storage(pg_db_url) for _ in range(4)),
                                  *(PostgresSchema().migrate(pg_db_url) for _ in range(4)))
    for storage in opened[:4]:
        await storage.close()  # type: ignore[union-attr]
    assert await versions(pg_db_url) == list(range(1, LATEST + 1))


async def test_manual_refuses_an_old_schema_naming_the_command(pg_db_url: str) -> None:
    with pytest.raises(SchemaMismatch, match=re.escape("run `python supervisor.py migrate` first")):
        await open_storage(pg_db_url, migrate="manual")
    conn = await asyncpg.connect(pg_db_url)
    try:
        assert await schema_version(conn) == 0  # and it changed nothing
        assert await conn.fetchval("SELECT to_regclass('files')") is None
    finally:
        await conn.close()
    done = await PostgresSchema().migrate(pg_db_url)
    assert (done.from_version, done.to_version, len(done.applied)) == (0, LATEST, len(MIGRATIONS))
    storage = await open_storage(pg_db_url, migrate="manual")
    try:
        assert await storage.ping()
    finally:
        await storage.close()


async def test_a_newer_schema_is_refused_at_open_whatever_the_mode(pg_db_url: str) -> None:
    await PostgresSchema().migrate(pg_db_url)
    conn = await asyncpg.connect(pg_db_url)
    try:
        await conn.execute("INSERT INTO schema_migrations (version, summary) VALUES ($1, 'next')", LATEST + 1)
    finally:
        await conn.close()
    for mode in ("auto", "manual"):
        with pytest.raises(SchemaMismatch, match="newer than this service knows"):
            await open_storage(pg_db_url, migrate=mode)


async def test_sqlite_manual_refuses_an_old_schema_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    with pytest.raises(SchemaMismatch, match=re.escape("run `python supervisor.py migrate` first")):
        await open_storage(url, migrate="manual")
    storage = await open_storage(url)  # "auto" migrates
    await storage.close()
    storage = await open_storage(url, migrate="manual")
    await storage.close()


async def test_an_unreachable_server_is_storage_unavailable() -> None:
    from shared.errors import StorageUnavailable
    from tests.conftest import free_port

    with pytest.raises(StorageUnavailable):
        await open_storage(f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")
