"""storage.pool_size bounds the PostgreSQL connections one process holds:
requests beyond it wait for a connection rather than open more (the server's
max_connections is shared by every process of every node)."""

from __future__ import annotations

import asyncio

import asyncpg

from shared.config import load_settings
from shared.storage import open_configured_storage
from tests.conftest import until

from .test_pg_concurrency import make

WRITES = 12


async def test_a_process_holds_no_more_connections_than_the_pool_size(pg_db_url: str):
    settings = load_settings(env={"DB_URL": pg_db_url, "DB_POOL_SIZE": "2"})
    storage = await open_configured_storage(settings.storage)
    raw = await asyncpg.connect(pg_db_url)
    try:
        user = await storage.create_user("a@x.io", "h")

        async def ours(**where: str) -> int:
            """The service's connections to the test's database (a fresh read each time)."""
            await raw.execute("SELECT pg_stat_clear_snapshot()")
            extra = " AND wait_event_type = 'Lock'" if where else ""
            return int(await raw.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = 'files-manager'" + extra))

        # The user's row locked here: each write the service starts holds a connection while it
        # waits for the lock. Twelve of them: two wait on the lock, ten wait for a connection.
        async with raw.transaction():
            await raw.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user.id)
            writes = [asyncio.ensure_future(make(storage, user, f"f{n}")) for n in range(WRITES)]
            await until(lambda: _equals(ours(lock="waiting"), 2), "two writes waiting on the lock")
            assert await ours() == 2
            assert not any(write.done() for write in writes)
        made = await asyncio.gather(*writes)
        assert sorted(record.name for record in made) == sorted(f"f{n}" for n in range(WRITES))
        assert await ours() <= 2
    finally:
        await raw.close()
        await storage.close()


async def _equals(count, expected: int) -> bool:  # type: ignore[no-untyped-def]
    return await count == expected
