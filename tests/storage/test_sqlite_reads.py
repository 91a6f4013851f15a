"""SQLite reads of one event-loop iteration share a read transaction. What
must still hold: a request sees its own writes at once, and another
connection's commit is visible from the next iteration on."""

from __future__ import annotations

import asyncio
import subprocess
import sys

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


def _commit_in_another_process(path, sql: str, *params) -> None:
    """`sql` committed by a separate Python process with its own connection."""
    script = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2], sys.argv[3:]); c.commit()"
    subprocess.run([sys.executable, "-c", script, str(path), sql, *params], check=True, timeout=30)


async def test_files_remembered_by_id_follow_commits_of_other_processes(tmp_path):
    """Look-ups by id are answered from memory while SQLite's data_version is
    unchanged; a commit by any other process must be seen from the next iteration."""
    path = tmp_path / "db.sqlite3"
    storage = await open_storage(f"sqlite:///{path}")
    try:
        owner = await storage.create_user("owner@example.com", "x")
        other = await storage.create_user("other@example.com", "x")
        created = await storage.create_file(NewFile(owner.id, "doc", "file", False, 0, "/x"))
        for _ in range(3):  # read in several iterations, so it is remembered
            assert await storage.file_of_user(owner.id, created.id) == created
            assert await storage.file_readable_by(None, created.id) is None
            await asyncio.sleep(0)

        _commit_in_another_process(path, "UPDATE files SET is_public = 1, name = 'renamed' WHERE id = ?", created.id)
        await asyncio.sleep(0)
        seen = await storage.file_readable_by(None, created.id)
        assert seen is not None and seen.is_public and seen.name == "renamed"

        _commit_in_another_process(path, "UPDATE files SET user_id = ? WHERE id = ?", other.id, created.id)
        await asyncio.sleep(0)
        assert await storage.file_of_user(owner.id, created.id) is None
        assert (await storage.file_of_user(other.id, created.id)).user_id == other.id

        _commit_in_another_process(path, "DELETE FROM files WHERE id = ?", created.id)
        await asyncio.sleep(0)
        assert await storage.file_of_user(other.id, created.id) is None
        assert await storage.file_readable_by(None, created.id) is None
    finally:
        await storage.close()


async def test_an_unknown_id_is_not_remembered_past_its_creation(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    reader, writer = await open_storage(url), await open_storage(url)
    try:
        user = await writer.create_user("later@example.com", "x")
        await asyncio.sleep(0)
        assert await reader.file_of_user(user.id, "0123456789abcdef01234567") is None  # remembered as absent
        writer._writer.execute(
            "INSERT INTO files (id, user_id, name, type, is_public, parent_id, local_path, seq)"
            " VALUES ('0123456789abcdef01234567', ?, 'n', 'folder', 0, '0', NULL, 0)", (user.id,))
        await asyncio.sleep(0)
        assert (await reader.file_of_user(user.id, "0123456789ABCDEF01234567")).name == "n"
        assert (await reader.file_of_user(user.id, "0123456789abcdef01234567")).name == "n"
    finally:
        await reader.close()
        await writer.close()


async def test_ids_of_other_types_match_nothing(tmp_path):
    storage = await open_storage(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        user = await storage.create_user("types@example.com", "x")
        for bogus in (None, 0, 12, ["0123456789abcdef01234567"], {"$ne": 1}, "0123456789abcdef0123456z"):
            assert await storage.file_of_user(user.id, bogus) is None
            assert await storage.file_readable_by(user.id, bogus) is None
    finally:
        await storage.close()


async def test_a_trash_by_another_process_hides_remembered_files_from_the_next_iteration(tmp_path):
    """The remembered files (v1 look-ups by id) follow a folder's trashing and
    restoring by another API process, for the folder and what is below it."""
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    reader, writer = await open_storage(url), await open_storage(url)  # as two API processes
    try:
        user = await writer.create_user("trash@example.com", "x")
        folder = await writer.create_file(NewFile(user.id, "dir", "folder", True, 0, None))
        inside = await writer.create_file(NewFile(user.id, "in", "file", True, folder.id, "/x", size=3))
        await asyncio.sleep(0)
        for _ in range(2):  # remembered
            assert await reader.file_readable_by(None, inside.id) == inside
            assert await reader.file_of_user(user.id, folder.id) == folder
            await asyncio.sleep(0)
        await writer.trash_file(user.id, folder.id, now=100.0)
        await asyncio.sleep(0)
        assert await reader.file_readable_by(None, inside.id) is None
        assert await reader.file_of_user(user.id, folder.id) is None
        assert await reader.children(user.id, folder.id, 0) == []
        assert (await reader.file_with_trashed(user.id, inside.id)).trash_id == folder.id
        await writer.restore_file(user.id, folder.id, now=200.0)
        await asyncio.sleep(0)
        assert await reader.file_readable_by(None, inside.id) == inside
        assert await reader.children(user.id, folder.id, 0) == [inside]
    finally:
        await reader.close()
        await writer.close()
