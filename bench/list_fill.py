"""The list benchmark's database: one user with a folder of 100,000 files
(1,000,000 on PostgreSQL), more of their files in other folders, and other
users' files.

Users, folders and tokens go through the storage and the token store as the
service makes them. The files are written by the storage's own row writer
(`sqlite_files.insert_file`: name key, v1 position, counted bytes), in one
transaction on a connection to the database the real migrations made, instead
of one `create_file` (one transaction, one fsync) each: the rows and indexes
are the ones the service writes, in seconds instead of minutes. Times and
sizes are spread (a year of `updatedAt`, sizes from bytes to gigabytes) so
that each sort order is a different permutation of the folder.

On PostgreSQL (`fill` with a postgresql:// URL) the files go in with COPY
(asyncpg's copy_records_to_table) into the tables and indexes the real
migrations made, each row as pg_files.insert_file writes it (stored name and
name key, dense v1 positions per folder in arrival order), then the users'
used bytes are set to their files' sum and the table is analysed: a million
rows in about a minute instead of a million transactions.
"""

from __future__ import annotations

import random
import sqlite3
import time
from dataclasses import dataclass, field

from shared.storage import FileRecord, NewFile, name_key, new_id, open_storage

WORDS_SEED = 12
EXTENSIONS = ("pdf", "jpg", "txt", "docx", "png", "csv", "mp4", "zip")


def vocabulary(count: int, rng: random.Random) -> list[str]:
    """`count` distinct made-up words of 2-4 syllables."""
    syllables = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"]
    words: set[str] = set()
    while len(words) < count:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(words)


@dataclass
class Filled:
    user_id: str
    folder_id: str
    token: str
    names: list[str] = field(default_factory=list)  # every live name of the user (all folders)
    words: list[str] = field(default_factory=list)
    files_in_folder: int = 0
    other_rows: int = 0


def _record(rng: random.Random, user_id: str, parent: str, name: str, now: float) -> FileRecord:
    updated = now - rng.uniform(0, 365 * 86400)
    size = int(10 ** rng.uniform(1, 9.5))
    return FileRecord(
        id=new_id(), user_id=user_id, name=name, type="file", is_public=rng.random() < 0.1,
        parent_id=parent, local_path=f"/nonexistent/{name}", size=size, sha256="0" * 64,
        mime_type="application/octet-stream", created_at=updated - rng.uniform(0, 86400), updated_at=updated,
    )


def _name(rng: random.Random, words: list[str], serial: int) -> str:
    """`adjective-noun-serial.ext`-like: the searched word can be in either place,
    so its matches are spread over the whole name order."""
    first, second = rng.choice(words), rng.choice(words)
    return f"{first.capitalize()}-{second}-{serial:06d}.{rng.choice(EXTENSIONS)}"


_PG_COLUMNS = ("id", "user_id", "name", "type", "is_public", "parent_id", "local_path", "seq", "size", "sha256",
               "mime_type", "created_at", "updated_at", "has_thumbnails", "name_key")


async def _copy_all(db_url: str, records: list[FileRecord]) -> None:
    """`records` as pg_files.insert_file would write them one by one, in one COPY."""
    import asyncpg

    from shared.storage.pg_core import stored_name

    seqs: dict[tuple[str, str], int] = {}

    def rows():  # type: ignore[no-untyped-def]
        for r in records:
            parent = str(r.parent_id)
            seq = seqs.get((r.user_id, parent), 0)
            seqs[(r.user_id, parent)] = seq + 1
            yield (r.id, r.user_id, stored_name(r.name), r.type, r.is_public, parent, r.local_path, seq, r.size,
                   r.sha256, r.mime_type, r.created_at, r.updated_at, False, stored_name(name_key(r.name)))

    conn = await asyncpg.connect(db_url)
    try:
        async with conn.transaction():
            # The folders' own rows hold position 0 of the root; their files start at 0 in each folder.
            await conn.copy_records_to_table("files", records=rows(), columns=_PG_COLUMNS)
            await conn.execute("UPDATE users SET used_bytes = coalesce((SELECT sum(size) FROM files"
                               " WHERE files.user_id = users.id), 0)")
        await conn.execute("VACUUM ANALYZE files")
    finally:
        await conn.close()


def _insert_all(path: str, records: list[FileRecord]) -> None:
    from shared.storage.sqlite_core import connect
    from shared.storage.sqlite_files import insert_file

    conn = connect(path)  # type: ignore[arg-type]
    try:
        conn.execute("BEGIN IMMEDIATE")
        for record in records:
            insert_file(conn, record)
        conn.execute("COMMIT")
    finally:
        conn.close()


async def fill(db_url: str, redis_url: str, *, files: int, other_folders: int, per_other_folder: int,
               other_users: int, per_other_user: int, words: int) -> Filled:
    from shared.redis_client import open_redis
    from shared.storage.sqlite_core import sqlite_path
    from shared.tokens import TokenStore

    rng = random.Random(WORDS_SEED)
    vocab = vocabulary(words, rng)
    storage = await open_storage(db_url)  # creates the file and runs every migration
    try:
        user = await storage.create_user("bench@example.com", "x")
        folder = await storage.create_file(NewFile(user.id, "Big folder", "folder", False, 0, None))
        others = [await storage.create_file(NewFile(user.id, f"Folder {i}", "folder", False, 0, None))
                  for i in range(other_folders)]
        strangers = [await storage.create_user(f"other{i}@example.com", "x") for i in range(other_users)]
        stranger_folders = [await storage.create_file(NewFile(s.id, "Big folder", "folder", False, 0, None))
                            for s in strangers]
    finally:
        await storage.close()
    filled = Filled(user.id, folder.id, "", names=[folder.name, *(f.name for f in others)], words=vocab)
    now = time.time()
    records: list[FileRecord] = []
    serial = 0
    for parent, count in [(folder.id, files), *((f.id, per_other_folder) for f in others)]:
        for _ in range(count):
            serial += 1
            records.append(_record(rng, user.id, parent, _name(rng, vocab, serial), now))
    filled.names += [r.name for r in records]
    filled.files_in_folder = files
    for stranger, parent in zip(strangers, stranger_folders, strict=True):
        for _ in range(per_other_user):
            serial += 1
            records.append(_record(rng, stranger.id, parent.id, _name(rng, vocab, serial), now))
    filled.other_rows = other_users * per_other_user
    rng.shuffle(records)  # arrival order unrelated to any sort, users interleaved
    if db_url.startswith(("postgresql://", "postgres://")):
        await _copy_all(db_url, records)
    else:
        _insert_all(str(sqlite_path(db_url)), records)

    redis = open_redis(redis_url)
    try:
        filled.token = (await TokenStore(redis, 86400).issue(user.id)).token
    finally:
        await redis.aclose()
    return filled


def matching(names: list[str], text: str) -> int:
    """How many of `names` a search for `text` finds (the contract: case-insensitive containment)."""
    key = name_key(text)
    return sum(key in name_key(n) for n in names)


def pick_query(names: list[str], words: list[str], low: int, high: int) -> tuple[str, int]:
    """A word of the vocabulary, upper-cased (the search ignores case), that
    `low` to `high` of the user's names contain: (text, matches)."""
    for word in words:
        count = matching(names, word)
        if low <= count <= high:
            return word.upper(), count
    raise RuntimeError(f"no word matches {low}-{high} names")


def plan(conn: sqlite3.Connection, sql: str, params: tuple) -> list[str]:
    return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
