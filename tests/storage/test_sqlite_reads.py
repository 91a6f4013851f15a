"""SQLite reads of one event-loop iteration share a read transaction. What
must still hold: a request sees its own writes at once, and another
connection's commit is visible from the next iteration on."""

from __future__ import annotations

import asyncio

from shared.storage import NewFile, open_storage


async def test_own_writes_are_visible_right_after_they_return(tmp_path):
    storage = await open_storage(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        user = await storage.create_user("me@example.com", "x")
        for i in range(20):
            assert await storage.children(user.id, 0, 0) is not None  # a read transaction is open now
            created = await storage.create_file(NewFile(user.id, f"f{i}", "folder", False, 0, None))
            assert await storage.file_of_user(user.id, created.id) == created
            published = await storage.set_public(user.id, created.id, True)
            assert (await storage.file_readable_by(None, created.id)) == published
        assert await storage.count_files() == 20
    finally:
        await storage.close()


async def test_another_connections_commit_is_seen_from_the_next_iteration(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    reader, writer = await open_storage(url), await open_storage(url)  # as two API processes
    try:
        user = await writer.create_user("them@example.com", "x")
        assert await reader.user_by_id(user.id) == user
        created = await writer.create_file(NewFile(user.id, "new", "file", False, 0, "/x"))
        await asyncio.sleep(0)  # one loop iteration: the reader's transaction ends
        assert await reader.file_of_user(user.id, created.id) == created
        await writer.set_public(user.id, created.id, True)
        await asyncio.sleep(0)
        assert (await reader.file_readable_by(None, created.id)).is_public is True
    finally:
        await reader.close()
        await writer.close()


async def test_reads_in_one_iteration_share_a_snapshot(tmp_path):
    """Within one iteration a read does not see a commit made meanwhile by
    another connection (the price of sharing the transaction), and the next
    iteration does."""
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    reader, writer = await open_storage(url), await open_storage(url)
    try:
        user = await writer.create_user("snap@example.com", "x")
        await asyncio.sleep(0)
        assert await reader.count_files() == 0  # snapshot taken here
        # A commit from another connection, made synchronously within this iteration.
        writer._writer.execute(
            "INSERT INTO files (id, user_id, name, type, is_public, parent_id, local_path, seq)"
            " VALUES ('0123456789abcdef01234567', ?, 'n', 'folder', 0, '0', NULL, 0)", (user.id,))
        assert await reader.count_files() == 0
        await asyncio.sleep(0)
        assert await reader.count_files() == 1
    finally:
        await reader.close()
        await writer.close()
