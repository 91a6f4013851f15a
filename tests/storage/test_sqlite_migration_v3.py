"""Schema v3 (API v2) on a database made by the code before it: upgraded in
place at open, every account and file kept, times from the ids, names keyed
for sorting and search, sizes unknown (counted 0, no blob looked at), v1
reads unchanged. Rows written later by older code get their keys at the
next open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from shared.storage import ROOT, NewFile, Order, open_storage
from shared.storage.sqlite_migrations import LATEST, MIGRATIONS, id_time

ALICE = "65a000000102030405000001"
BOB = "65a000010102030405000002"
DOCS = "65a000020102030405000003"
NAMES = ["Zeta", "alpha", "Beta", "gamma.TXT", "Äpfel"]


def file_id(n: int) -> str:
    return f"65a1{n:04x}0102030405{n:06x}"


def make_v2_database(path: Path) -> None:
    """Schema version 2 through its own (frozen) migrations, rows as that code wrote them."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        for migration in MIGRATIONS[:2]:
            migration(db)
        db.execute("PRAGMA user_version = 2")
        db.executemany("INSERT INTO users (id, email, password, email_key) VALUES (?, ?, ?, ?)",
                       [(ALICE, "Alice@x.io", "h-a", "alice@x.io"), (BOB, "bob@x.io", "h-b", "bob@x.io")])
        insert = ("INSERT INTO files (id, user_id, name, type, is_public, parent_id, local_path, seq)"
                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        db.execute(insert, (DOCS, ALICE, "docs", "folder", 0, "0", None, 0))
        for n, name in enumerate(NAMES):
            db.execute(insert, (file_id(n), ALICE, name, "file", n % 2, DOCS, f"/tmp/fm/{n}", n))
        for n in range(len(NAMES), len(NAMES) + 25):
            db.execute(insert, (file_id(n), BOB, f"b{n}", "image", 1, "0", f"/tmp/fm/{n}", n - len(NAMES)))
    finally:
        db.close()


async def test_a_database_of_schema_2_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite3"
    make_v2_database(path)
    storage = await open_storage(f"sqlite:///{path}")
    try:
        assert await storage.count_users() == 2 and await storage.count_files() == 31
        alice = await storage.user_by_email("alice@X.IO")
        assert alice is not None and (alice.id, alice.email, alice.password_hash) == (ALICE, "Alice@x.io", "h-a")
        assert (alice.created_at, alice.quota_bytes) == (id_time(ALICE), None)
        usage = await storage.usage(ALICE)
        assert (usage.used_bytes, usage.reserved_bytes, usage.quota_bytes) == (0, 0, None)

        # v1 reads as before: the same pages in the same order.
        inside = await storage.children(ALICE, DOCS, 0)
        assert [f.name for f in inside] == NAMES
        bobs = [f.name for p in range(3) for f in await storage.children(BOB, ROOT, p)]
        assert bobs == [f"b{n}" for n in range(len(NAMES), len(NAMES) + 25)]
        record = await storage.file_of_user(ALICE, file_id(1))
        assert record is not None and (record.name, record.is_public, record.local_path) == ("alpha", True, "/tmp/fm/1")
        assert (record.size, record.sha256, record.mime_type, record.trashed_at) == (None, None, None, None)
        assert record.created_at == record.updated_at == id_time(file_id(1))
        assert await storage.file_readable_by(None, file_id(1)) == record

        # v2 on the old rows: sorted and searched by name_key, trash, new files counted.
        listed = await storage.list_files(ALICE, DOCS, Order("name"), 100, None)
        assert [f.name for f in listed] == ["alpha", "Beta", "gamma.TXT", "Zeta", "Äpfel"]
        assert [f.name for f in await storage.search_files(ALICE, "TXT", Order(), 10, None)] == ["gamma.TXT"]
        await storage.trash_file(ALICE, file_id(2), now=100.0)
        assert [f.name for f in await storage.children(ALICE, DOCS, 0)] == ["Zeta", "alpha", "gamma.TXT", "Äpfel"]
        added = await storage.create_file(NewFile(ALICE, "new", "file", False, DOCS, "/tmp/fm/new", size=9))
        assert [f.id for f in await storage.children(ALICE, DOCS, 0)][-1] == added.id
        assert (await storage.usage(ALICE)).used_bytes == 9
    finally:
        await storage.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (LATEST,)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM files WHERE name_key IS NULL OR created_at IS NULL").fetchone() == (0,)


async def test_files_written_by_older_code_get_their_keys_at_the_next_open(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    storage = await open_storage(f"sqlite:///{path}")
    user = await storage.create_user("a@x.io", "h")
    await storage.close()
    with sqlite3.connect(path) as db:  # as the code of schema 2 inserts
        db.execute("INSERT INTO files (id, user_id, name, type, is_public, parent_id, local_path, seq)"
                   " VALUES (?, ?, 'Old.TXT', 'file', 0, '0', '/tmp/fm/old', 0)", (file_id(1), user.id))
    storage = await open_storage(f"sqlite:///{path}")
    try:
        found = await storage.search_files(user.id, "old.txt", Order(), 10, None)
        assert [f.id for f in found] == [file_id(1)]
        assert found[0].created_at == found[0].updated_at == id_time(file_id(1))
        assert [f.id for f in await storage.list_files(user.id, ROOT, Order("updated_at"), 10, None)] == [file_id(1)]
    finally:
        await storage.close()
