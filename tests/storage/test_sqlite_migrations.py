"""SQLite's schema is versioned (PRAGMA user_version) and migrated at open: a
database made before versions existed is upgraded in place with its data,
emails that differ only in case (allowed then) keep working, several
processes may open it at once, and a database newer than the code is refused."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from shared.errors import EmailTaken, StorageUnavailable
from shared.storage import NewFile, open_storage
from shared.storage.sqlite_migrations import LATEST

# The schema as the service created it before versions existed (user_version 0).
UNVERSIONED_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id       TEXT PRIMARY KEY,
    email    TEXT NOT NULL UNIQUE,
    password TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS files (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    name       TEXT NOT NULL,
    type       TEXT NOT NULL CHECK (type IN ('folder', 'file', 'image')),
    is_public  INTEGER NOT NULL DEFAULT 0,
    parent_id  TEXT NOT NULL,           -- '0' for the root
    local_path TEXT,
    seq        INTEGER NOT NULL         -- position in (user_id, parent_id), dense from 0
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS files_by_parent ON files (user_id, parent_id, seq);
"""

# Ids as the old code made them: time, then a per-process value and a counter.
OLD_BOB = "65a000000102030405000001"  # the oldest of the two spellings
OLD_BOB_LOWER = "65a000010102030405000002"
OLD_CAROL = "65a000020102030405000003"
FOLDER = "65a000030102030405000004"


def make_unversioned_database(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode = WAL")
        db.executescript(UNVERSIONED_SCHEMA)
        db.executemany(
            "INSERT INTO users (id, email, password) VALUES (?, ?, ?)",
            [(OLD_BOB, "Bob@Dylan.com", "h-bob"), (OLD_BOB_LOWER, "bob@dylan.com", "h-bob2"),
             (OLD_CAROL, " carol@example.com", "h-carol")],
        )
        db.execute("INSERT INTO files VALUES (?, ?, 'docs', 'folder', 0, '0', NULL, 0)",
                   (FOLDER, OLD_CAROL))
        db.executemany(
            "INSERT INTO files VALUES (?, ?, ?, 'file', 1, ?, ?, ?)",
            [(f"65a00004010203040500{n:04x}", OLD_CAROL, f"f{n}", FOLDER, f"/tmp/f{n}", n)
             for n in range(25)],
        )
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (0,)


def events(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


async def test_a_database_of_the_unversioned_schema_is_upgraded_in_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "old.sqlite3"
    make_unversioned_database(path)
    storage = await open_storage(f"sqlite:///{path}")
    try:
        logged = events(capsys.readouterr().out)
        assert [e["version"] for e in logged if e["event"] == "storage.sqlite.migrated"] == list(range(1, LATEST + 1))
        warning = next(e for e in logged if e["event"] == "storage.sqlite.duplicate_emails")
        assert warning["level"] == "warning" and warning["user_ids"] == [OLD_BOB_LOWER]

        # Every account and file is there, as it was.
        assert await storage.count_users() == 3 and await storage.count_files() == 26
        carol = await storage.user_by_email("CAROL@example.com")
        assert carol is not None and (carol.id, carol.email) == (OLD_CAROL, " carol@example.com")
        pages = [await storage.children(OLD_CAROL, FOLDER, p) for p in range(2)]
        assert [f.name for p in pages for f in p] == [f"f{n}" for n in range(25)]

        # The two spellings allowed before: each logs in with its exact email,
        # any other spelling reaches the oldest, and none can be taken again.
        assert (await storage.user_by_email("Bob@Dylan.com")).id == OLD_BOB
        assert (await storage.user_by_email("bob@dylan.com")).id == OLD_BOB_LOWER
        assert (await storage.user_by_email(" BOB@dylan.com")).id == OLD_BOB
        for spelling in ("BOB@DYLAN.COM", "bob@dylan.com", "Carol@Example.com"):
            with pytest.raises(EmailTaken):
                await storage.create_user(spelling, "h")

        # New accounts and files work as on a new database.
        dana = await storage.create_user("Dana@example.com", "h-dana")
        assert await storage.user_by_email("dana@EXAMPLE.com") == dana
        added = await storage.create_file(NewFile(OLD_CAROL, "f25", "file", False, FOLDER, "/tmp/x"))
        assert [f.id for f in await storage.children(OLD_CAROL, FOLDER, 1)][-1] == added.id
    finally:
        await storage.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (LATEST,)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    # Opened again: nothing to migrate, the duplicates are mentioned again.
    capsys.readouterr()
    storage = await open_storage(f"sqlite:///{path}")
    await storage.close()
    logged = [e["event"] for e in events(capsys.readouterr().out)]
    assert "storage.sqlite.migrated" not in logged
    assert "storage.sqlite.duplicate_emails" in logged


async def test_users_written_without_email_key_get_it_at_the_next_open(tmp_path: Path) -> None:
    """As an older version still running during a rolling upgrade writes them."""
    path = tmp_path / "db.sqlite3"
    storage = await open_storage(f"sqlite:///{path}")
    await storage.close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO users (id, email, password) VALUES (?, 'Old@Example.com', 'h')", (OLD_BOB,))
    storage = await open_storage(f"sqlite:///{path}")
    try:
        assert (await storage.user_by_email("old@example.COM")).id == OLD_BOB
        with pytest.raises(EmailTaken):
            await storage.create_user(" OLD@example.com", "h")
    finally:
        await storage.close()


async def test_a_new_database_gets_the_latest_version_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    for _ in range(2):
        storage = await open_storage(url)
        await storage.close()
    logged = [e for e in events(capsys.readouterr().out) if e["event"] == "storage.sqlite.migrated"]
    assert [e["version"] for e in logged] == list(range(1, LATEST + 1))
    assert "storage.sqlite.duplicate_emails" not in capsys.readouterr().out


async def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    storage = await open_storage(f"sqlite:///{path}")
    await storage.close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {LATEST + 1}")
    with pytest.raises(StorageUnavailable, match=f"schema version {LATEST + 1}, newer"):
        await open_storage(f"sqlite:///{path}")


def _open_and_sign_up(url: str, email: str, go) -> None:
    async def main() -> None:
        go.wait()
        storage = await open_storage(url)
        try:
            await storage.create_user(email, "h")
        finally:
            await storage.close()

    asyncio.run(main())


async def test_several_processes_opening_an_old_database_at_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    make_unversioned_database(path)
    url = f"sqlite:///{path}"
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    procs = [ctx.Process(target=_open_and_sign_up, args=(url, f"P{n}@example.com", go)) for n in range(4)]
    for proc in procs:
        proc.start()
    go.set()
    await asyncio.gather(*(asyncio.to_thread(proc.join, 120) for proc in procs))
    assert [proc.exitcode for proc in procs] == [0, 0, 0, 0]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (LATEST,)
        assert db.execute("SELECT count(*) FROM users").fetchone() == (7,)
        keys = [k for (k,) in db.execute("SELECT email_key FROM users WHERE email LIKE 'P%' ORDER BY 1")]
        assert keys == [f"p{n}@example.com" for n in range(4)]
