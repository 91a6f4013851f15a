"""PostgreSQL under writes racing from several nodes: each "node" is a storage
of its own (its own pool) on one database. Writes that must agree (a move's
cycle check, a quota, the byte counters, a folder's v1 positions, the trash)
hold the user's row lock, so whatever the interleaving the result is one a
sequence of the writes could have given."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.errors import Invalid, QuotaExceeded
from shared.storage import (
    INTO_ITSELF,
    PARENT_NOT_FOUND,
    ROOT,
    FileRecord,
    NewFile,
    Storage,
    Upload,
    User,
    new_id,
    open_storage,
)
from tests.conftest import until

NODES = 3


@pytest.fixture
async def nodes(pg_db_url: str) -> AsyncIterator[list[Storage]]:
    opened = [await open_storage(pg_db_url) for _ in range(NODES)]
    yield opened
    for storage in opened:
        await storage.close()


@pytest.fixture
async def raw(pg_db_url: str, nodes: list[Storage]) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(pg_db_url)
    yield conn
    await conn.close()


def node(nodes: list[Storage], n: int) -> Storage:
    return nodes[n % len(nodes)]


async def make(storage: Storage, user: User, name: str, type_: str = "file", parent: object = ROOT,
               size: int = 1, quota: int | None = None) -> FileRecord:
    folder = type_ == "folder"
    return await storage.create_file(
        NewFile(user.id, name, type_, False, parent, None if folder else f"/tmp/fm/{new_id()}",  # type: ignore[arg-type]
                size=None if folder else size, sha256=None, mime_type=None if folder else "text/plain"),
        quota)


async def held_user_lock(raw: asyncpg.Connection, user: User, waiters: int, *writes) -> list:  # type: ignore[no-untyped-def]
    """Run `writes` (coroutines) while `raw` holds the user's row lock, until
    `waiters` of them queue on it, then let them all go at once: they race for
    real, and each must find the lock (a write that does not take it would
    never queue, and the wait would time out)."""
    async with raw.transaction():
        await raw.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user.id)
        tasks = [asyncio.ensure_future(write) for write in writes]

        async def queued() -> bool:
            # pg_stat_activity is read once per transaction (stats_fetch_consistency): a fresh read each time.
            await raw.execute("SELECT pg_stat_clear_snapshot()")
            return await raw.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()") == waiters

        await until(queued, f"{waiters} writes queued on the user's lock")
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_two_moves_that_would_make_a_cycle_one_succeeds(nodes: list[Storage], raw) -> None:
    user = await nodes[0].create_user("a@x.io", "h")
    for round_ in range(5):
        a = await make(nodes[0], user, f"a{round_}", "folder")
        b = await make(nodes[0], user, f"b{round_}", "folder")
        results = await held_user_lock(
            raw, user, 2,
            nodes[1].update_file(user.id, a.id, parent_id=b.id, now=1.0),
            nodes[2].update_file(user.id, b.id, parent_id=a.id, now=1.0))
        assert sum(isinstance(r, FileRecord) for r in results) == 1, results
        (refused,) = [r for r in results if isinstance(r, Exception)]
        assert isinstance(refused, Invalid) and refused.message == INTO_ITSELF
        # No cycle: one of them is at the root, the other inside it.
        parents = {(await nodes[0].file_of_user(user.id, f.id)).parent_id for f in (a, b)}  # type: ignore[union-attr]
        assert ROOT in parents


async def test_a_three_way_cycle_is_never_made(nodes: list[Storage], raw) -> None:
    user = await nodes[0].create_user("a@x.io", "h")
    folders = [await make(nodes[0], user, f"f{i}", "folder") for i in range(3)]
    results = await held_user_lock(
        raw, user, 3,
        *(node(nodes, i).update_file(user.id, folders[i].id, parent_id=folders[(i + 1) % 3].id, now=1.0)
          for i in range(3)))
    assert sum(isinstance(r, FileRecord) for r in results) == 2
    for f in folders:  # every chain reaches the root
        chain = await nodes[0].ancestors(user.id, f.id)
        assert len(chain) <= 2 and f.id not in {c.id for c in chain}
    now = [await nodes[0].file_of_user(user.id, f.id) for f in folders]
    assert sum(f is not None and f.parent_id == ROOT for f in now) == 1


async def test_uploads_racing_against_a_quota_never_pass_it(nodes: list[Storage], raw) -> None:
    user = await nodes[0].create_user("a@x.io", "h")
    results = await held_user_lock(
        raw, user, 12, *(make(node(nodes, i), user, f"f{i}", size=3, quota=20) for i in range(12)))
    assert sum(isinstance(r, FileRecord) for r in results) == 6
    assert all(isinstance(r, (FileRecord, QuotaExceeded)) for r in results)
    assert (await nodes[0].usage(user.id)).used_bytes == 18
    assert await nodes[0].usage_drifts() == []


async def test_tus_reservations_racing_against_a_quota_never_pass_it(nodes: list[Storage], raw) -> None:
    user = await nodes[0].create_user("a@x.io", "h")
    await make(nodes[0], user, "already", size=2)

    def upload(i: int) -> Upload:
        return Upload(new_id(), user.id, 4, 0, f"u{i}", ROOT, False, f"/tmp/fm/{i}.part", 1.0, 2.0)

    results = await held_user_lock(
        raw, user, 8, *(node(nodes, i).create_upload(upload(i), quota=10) for i in range(8)))
    assert sum(isinstance(r, Upload) for r in results) == 2  # 2 + 4 + 4 <= 10 < 2 + 12
    assert (await nodes[0].usage(user.id)).reserved_bytes == 8


async def test_files_created_at_once_in_a_folder_get_distinct_dense_v1_positions(nodes: list[Storage], raw) -> None:
    user = await nodes[0].create_user("a@x.io", "h")
    folder = await make(nodes[0], user, "docs", "folder")
    results = await held_user_lock(
        raw, user, 24, *(make(node(nodes, i), user, f"f{i}", parent=folder.id) for i in range(24)))
    assert all(isinstance(r, FileRecord) for r in results)
    seqs = [row[0] for row in await raw.fetch("SELECT seq FROM files WHERE parent_id = $1 ORDER BY seq", folder.id)]
    assert seqs == list(range(24))
    listed = await nodes[0].children(user.id, folder.id, 0) + await nodes[0].children(user.id, folder.id, 1)
    assert sorted(r.id for r in listed) == sorted(r.id for r in results)  # type: ignore[union-attr]


async def test_a_file_created_while_its_folder_is_trashed_is_never_left_live_below_it(
        nodes: list[Storage], raw) -> None:
    user = await nodes[0].create_user("a@x.io", "h")
    for round_ in range(4):
        folder = await make(nodes[0], user, f"docs{round_}", "folder")
        results = await held_user_lock(
            raw, user, 3,
            make(nodes[1], user, "early", parent=folder.id),
            nodes[2].trash_file(user.id, folder.id, now=5.0),
            make(nodes[0], user, "late", parent=folder.id))
        for result in (results[0], results[2]):
            refused = isinstance(result, Invalid) and result.message == PARENT_NOT_FOUND
            assert isinstance(result, FileRecord) or refused
            assert isinstance(result, FileRecord) or refused
        live_below = await raw.fetchval(
            "SELECT count(*) FROM files WHERE parent_id = $1 AND trashed_at IS NULL", folder.id)
        assert live_below == 0
        restored = await nodes[0].restore_file(user.id, folder.id, now=6.0)
        assert restored.trashed_at is None
        created = [r for r in (results[0], results[2]) if isinstance(r, FileRecord)]
        for record in created:  # what was created went to the trash with its folder, and came back
            assert await nodes[0].file_of_user(user.id, record.id) is not None


async def test_purges_and_creates_at_once_keep_the_counters_true(nodes: list[Storage], raw) -> None:
    user = await nodes[0].create_user("a@x.io", "h")
    folder = await make(nodes[0], user, "docs", "folder")
    inside = [await make(nodes[0], user, f"in{i}", parent=folder.id, size=10) for i in range(5)]
    await nodes[0].trash_file(user.id, inside[0].id, now=1.0)
    results = await held_user_lock(
        raw, user, 6,
        nodes[1].purge_file(user.id, folder.id),
        nodes[2].purge_trash(user.id),
        *(make(node(nodes, i), user, f"new{i}", size=7) for i in range(4)))
    assert isinstance(results[0], list) and isinstance(results[1], list), results
    assert all(isinstance(r, FileRecord) for r in results[2:]), results
    assert await nodes[0].usage_drifts() == []
    assert (await nodes[0].usage(user.id)).used_bytes == 28
