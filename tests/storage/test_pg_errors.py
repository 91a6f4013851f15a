"""PostgreSQL's failures as domain errors: a lock not granted within the write
timeout is StorageBusy, a connection the server ended or a database gone is
StorageUnavailable at worst (and the pool recovers by itself), text PostgreSQL cannot
hold is Invalid; and v1 names holding U+0000, which PostgreSQL's text cannot,
are kept exactly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.errors import Invalid, StorageBusy, StorageUnavailable
from shared.storage import ROOT, NewFile, Order, Storage, open_storage
from tests.conftest import until


@pytest.fixture
async def raw(pg_db_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(pg_db_url)
    yield conn
    await conn.close()


def new_file(user_id: str, name: str) -> NewFile:
    return NewFile(user_id, name, "file", False, ROOT, "/tmp/fm/x", size=1, sha256=None, mime_type="text/plain")


async def test_names_holding_nul_are_kept_and_found(postgres_storage: Storage) -> None:
    user = await postgres_storage.create_user("a@x.io", "h")
    made = await postgres_storage.create_file(new_file(user.id, "nul\x00.txt"))
    assert made.name == "nul\x00.txt"
    assert (await postgres_storage.file_of_user(user.id, made.id)).name == "nul\x00.txt"  # type: ignore[union-attr]
    assert [r.id for r in await postgres_storage.search_files(user.id, "L\x00", Order(), 10, None)] == [made.id]
    assert await postgres_storage.search_files(user.id, "\ufdd0", Order(), 10, None) == []
    renamed = await postgres_storage.update_file(user.id, made.id, name="\x00\x00", now=2.0)
    assert renamed.name == "\x00\x00"
    # The stand-in itself cannot be a name: refused, nothing stored.
    with pytest.raises(Invalid):
        await postgres_storage.create_file(new_file(user.id, "a\ufdd0"))
    assert (await postgres_storage.usage(user.id)).used_bytes == 1


async def test_text_postgresql_cannot_hold_is_invalid(postgres_storage: Storage) -> None:
    for email in ("a\udcff@x.io", "a\x00@x.io"):
        with pytest.raises(Invalid):
            await postgres_storage.create_user(email, "h")
    assert await postgres_storage.count_users() == 0
    assert await postgres_storage.user_by_email("a\x00@x.io") is None


async def test_a_lock_not_granted_within_the_write_timeout_is_busy(pg_db_url: str, raw) -> None:
    storage = await open_storage(pg_db_url, write_timeout=0.3)
    try:
        user = await storage.create_user("a@x.io", "h")
        async with raw.transaction():
            await raw.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user.id)
            with pytest.raises(StorageBusy):
                await storage.create_file(new_file(user.id, "f"))
        await storage.create_file(new_file(user.id, "f"))  # the lock gone, the write goes through
        assert (await storage.usage(user.id)).used_bytes == 1
    finally:
        await storage.close()


async def test_connections_the_server_ends_are_unavailable_then_replaced(postgres_storage: Storage, raw) -> None:
    user = await postgres_storage.create_user("a@x.io", "h")
    mine = ("FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'files-manager'"
            " AND pid <> pg_backend_pid()")
    async with raw.transaction():  # a write in progress (waiting for the user's lock) when its connection ends
        await raw.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user.id)
        write = asyncio.ensure_future(postgres_storage.create_file(new_file(user.id, "f")))

        async def waiting() -> bool:
            await raw.execute("SELECT pg_stat_clear_snapshot()")
            return await raw.fetchval(f"SELECT count(*) {mine} AND wait_event_type = 'Lock'") == 1

        await until(waiting, "the write to wait for the lock")
        assert await raw.fetchval(f"SELECT count(pg_terminate_backend(pid)) {mine}") >= 1
        with pytest.raises(StorageUnavailable):
            await write
    try:  # idle connections ended too: the pool may have seen them close already, or learns it now
        await postgres_storage.user_by_id(user.id)
    except StorageUnavailable:
        pass  # a domain error, never the driver's

    async def answers() -> bool:
        try:
            return await postgres_storage.user_by_id(user.id) is not None
        except StorageUnavailable:
            return False

    await until(answers, "the pool to connect again")
    assert await postgres_storage.ping()
    assert (await postgres_storage.usage(user.id)).used_bytes == 0  # the ended write left nothing


async def test_ping_says_whether_the_database_answers(pg_db_url: str) -> None:
    storage = await open_storage(pg_db_url)
    try:
        assert await storage.ping(timeout=5)
        server = await asyncpg.connect(pg_db_url.rsplit("/", 1)[0] + "/postgres")
        try:
            await server.execute(f'DROP DATABASE "{pg_db_url.rsplit("/", 1)[1]}" WITH (FORCE)')
        finally:
            await server.close()
        assert await storage.ping(timeout=2) is False
        with pytest.raises(StorageUnavailable):
            await storage.count_users()
    finally:
        await storage.close()
