"""SQLite writes have a deadline (storage.write_timeout) from when they were
asked: while another process holds the write lock, writes queued behind one
another all fail with StorageBusy within about the timeout (not one timeout
each, in turn), none of them runs late, and writes work again once the lock
is released."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.errors import StorageBusy
from shared.storage import NewFile, open_storage

# Another process: BEGIN IMMEDIATE, say so, keep the lock until stdin closes.
_HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
db.execute("ROLLBACK")
"""


class LockHolder:
    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline() == "locked\n"

    def release(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            assert self.proc.wait(30) == 0


@pytest.fixture
def hold_lock() -> Iterator:
    holders: list[LockHolder] = []

    def hold(path: Path) -> LockHolder:
        holders.append(LockHolder(path))
        return holders[-1]

    yield hold
    for holder in holders:
        holder.release()


async def test_queued_writes_all_answer_busy_within_the_timeout(tmp_path: Path, hold_lock) -> None:
    path = tmp_path / "db.sqlite3"
    storage = await open_storage(f"sqlite:///{path}", write_timeout=0.5)
    try:
        user = await storage.create_user("w@example.com", "h")
        folder = await storage.create_file(NewFile(user.id, "d", "folder", False, 0, None))
        holder = hold_lock(path)

        started = time.monotonic()

        async def timed(write) -> tuple[float, BaseException | object]:
            try:
                result: BaseException | object = await write
            except Exception as exc:  # noqa: BLE001 - the test looks at what each one got
                result = exc
            return time.monotonic() - started, result

        writes = [storage.create_file(NewFile(user.id, f"f{n}", "folder", False, 0, None)) for n in range(3)]
        writes += [storage.create_user(f"new{n}@example.com", "h") for n in range(2)]
        writes += [storage.set_public(user.id, folder.id, True),
                   storage.set_password_hash(user.id, "h", "h2"),
                   storage.delete_file(user.id, folder.id)]
        answers = await asyncio.gather(*(timed(w) for w in writes))

        assert len(answers) == 8
        assert all(isinstance(result, StorageBusy) for _, result in answers), answers
        # Before: each waited its own 0.5 s in turn (about 4 s for the last).
        assert max(elapsed for elapsed, _ in answers) < 3.0, answers

        holder.release()
        # Nothing asked while the lock was held ran later.
        assert await storage.count_files() == 1 and await storage.count_users() == 1
        assert (await storage.file_of_user(user.id, folder.id)).is_public is False
        assert (await storage.user_by_id(user.id)).password_hash == "h"
        # And writes work again.
        assert (await storage.set_public(user.id, folder.id, True)).is_public is True
        assert (await storage.create_user("new0@example.com", "h")).email == "new0@example.com"
    finally:
        await storage.close()


async def test_a_write_gets_only_what_is_left_of_its_deadline(tmp_path: Path, hold_lock) -> None:
    """A write queued behind a slow one waits for the lock only for the rest
    of its own deadline, and succeeds when the lock comes back in time."""
    path = tmp_path / "db.sqlite3"
    storage = await open_storage(f"sqlite:///{path}", write_timeout=5.0)
    try:
        user = await storage.create_user("w@example.com", "h")
        holder = hold_lock(path)
        write = asyncio.ensure_future(storage.create_file(NewFile(user.id, "late", "folder", False, 0, None)))
        await asyncio.sleep(0.3)  # the write is waiting for the lock now (nothing to await from outside)
        assert not write.done()
        holder.release()
        record = await asyncio.wait_for(write, 10)
        assert (await storage.file_of_user(user.id, record.id)) == record
    finally:
        await storage.close()
