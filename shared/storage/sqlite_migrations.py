"""The SQLite schema, as numbered migrations run at every open.

The database's version is `PRAGMA user_version` (0 for a new file and for a
database made before versions existed). `MIGRATIONS[n - 1]` takes the schema
from version n-1 to n. A released migration is never edited: a change to the
schema is a new function appended to the list, written so it works on any
database the previous versions can have left.

`migrate` brings a database to the latest version in one IMMEDIATE
transaction, so several processes opening the same file at once are
serialised by SQLite's write lock: the first migrates, the others find the
version already current (read again inside the lock) and do nothing. A
database whose version is newer than this code knows is refused rather than
used with a schema the code does not understand.

`fill_email_keys` and `fill_file_keys`, also run at every open, keep what v2
and v3 set up true for rows written without email_key, name_key or times
since (by an older version during a rolling upgrade, or by other tools).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from ..errors import SchemaMismatch
from ..logging import get_logger
from .base import email_key, name_key

log = get_logger("storage.sqlite")

Migration = Callable[[sqlite3.Connection], None]


def _v1_tables(conn: sqlite3.Connection) -> None:
    """Users and files. IF NOT EXISTS: databases made before versions existed
    (user_version 0) already have exactly these."""
    for statement in (
        """CREATE TABLE IF NOT EXISTS users (
            id       TEXT PRIMARY KEY,
            email    TEXT NOT NULL UNIQUE,
            password TEXT NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE IF NOT EXISTS files (
            id         TEXT PRIMARY KEY,
            user_id    TEXT NOT NULL,
            name       TEXT NOT NULL,
            type       TEXT NOT NULL CHECK (type IN ('folder', 'file', 'image')),
            is_public  INTEGER NOT NULL DEFAULT 0,
            parent_id  TEXT NOT NULL,           -- '0' for the root
            local_path TEXT,
            seq        INTEGER NOT NULL         -- position in (user_id, parent_id), dense from 0
        ) WITHOUT ROWID""",
        "CREATE UNIQUE INDEX IF NOT EXISTS files_by_parent ON files (user_id, parent_id, seq)",
    ):
        conn.execute(statement)


def _v2_email_key(conn: sqlite3.Connection) -> None:
    """Emails compared by email_key (trimmed, case-folded), unique.

    Existing accounts whose emails differ only in case (possible before) are
    all kept and each still logs in with its exact email: the oldest (by id,
    which starts with the creation time) gets the key, the others none (NULL,
    which a unique index allows many of). Every new sign-up of any spelling
    then collides with the oldest's key."""
    conn.execute("ALTER TABLE users ADD COLUMN email_key TEXT")
    taken: set[str] = set()
    keys: list[tuple[str, str]] = []
    for user_id, email in conn.execute("SELECT id, email FROM users ORDER BY id").fetchall():
        if not isinstance(email, str):
            continue
        key = email_key(email)
        if key not in taken:
            taken.add(key)
            keys.append((key, user_id))
    conn.executemany("UPDATE users SET email_key = ? WHERE id = ?", keys)
    conn.execute("CREATE UNIQUE INDEX users_by_email_key ON users (email_key)")


def id_time(file_id: object) -> float:
    """The creation time an id starts with (its first 8 hex digits); 0 if it has none."""
    try:
        return float(int(str(file_id)[:8], 16))
    except ValueError:
        return 0.0


def _sql_name_key(name: object) -> str | None:
    return name_key(name) if isinstance(name, str) else None


def add_functions(conn: sqlite3.Connection) -> None:
    """What the v3 migration and fill_file_keys compute in SQL but SQLite cannot
    (hex digits to a number, Unicode case folding)."""
    conn.create_function("fm_id_time", 1, id_time, deterministic=True)
    conn.create_function("fm_name_key", 1, _sql_name_key, deterministic=True)


# The files table of v3. Kept out of the migration's body only to be read:
# a released migration is never edited, and neither is this text.
_V3_FILES = """CREATE TABLE files_v3 (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL,
    name           TEXT NOT NULL,
    type           TEXT NOT NULL CHECK (type IN ('folder', 'file', 'image')),
    is_public      INTEGER NOT NULL DEFAULT 0,
    parent_id      TEXT NOT NULL,   -- '0' for the root
    local_path     TEXT,
    seq            INTEGER,         -- v1 position in (user_id, parent_id), dense from 0; NULL: out
                                    -- of the order (the top of a deletion)
    size           INTEGER,         -- NULL: unknown (written by v1 before sizes)
    sha256         TEXT,
    mime_type      TEXT,
    created_at     REAL,            -- NULL only in rows written by older code (fill_file_keys)
    updated_at     REAL,
    trashed_at     REAL,            -- NULL: live
    trash_id       TEXT,            -- the top of the deletion that trashed this row
    has_thumbnails INTEGER NOT NULL DEFAULT 0,
    name_key       TEXT,            -- base.name_key(name); NULL only in rows written by older code
    is_file        INTEGER GENERATED ALWAYS AS (type <> 'folder') VIRTUAL,  -- folders (0) first
    size_key       INTEGER GENERATED ALWAYS AS (coalesce(size, 0)) VIRTUAL  -- a missing size sorts as 0
) WITHOUT ROWID"""


def _v3_v2_api(conn: sqlite3.Connection) -> None:
    """API v2: sizes, hashes, times, the trash, usage and quotas, share links, tus uploads.

    The files table is rebuilt, not altered, because seq must become nullable
    (a trashed top leaves the v1 order, several per folder). Existing rows get
    their times from their id, their name_key, and a NULL (unknown) size, which
    counts 0 in used_bytes: blobs are not looked at here.

    The live_* indexes make each v2 list a keyset seek: one partial index
    (live rows only) per sort key, led by (user_id, parent_id, is_file) so
    folders come first and each kind is one ordered range, read forwards or
    backwards. search_by_name holds every live name of a user, so a search
    reads the user's names from the index without visiting the rows."""
    add_functions(conn)
    conn.execute(_V3_FILES)
    conn.execute(
        """INSERT INTO files_v3 (id, user_id, name, type, is_public, parent_id, local_path, seq,
                                 created_at, updated_at, name_key)
           SELECT id, user_id, name, type, is_public, parent_id, local_path, seq,
                  fm_id_time(id), fm_id_time(id), fm_name_key(name) FROM files"""
    )
    conn.execute("DROP TABLE files")
    conn.execute("ALTER TABLE files_v3 RENAME TO files")
    for statement in (
        "CREATE UNIQUE INDEX files_by_parent ON files (user_id, parent_id, seq)",
        "CREATE INDEX live_by_name ON files (user_id, parent_id, is_file, name_key, id)"
        " WHERE trashed_at IS NULL",
        "CREATE INDEX live_by_updated ON files (user_id, parent_id, is_file, updated_at, id)"
        " WHERE trashed_at IS NULL",
        "CREATE INDEX live_by_size ON files (user_id, parent_id, is_file, size_key, id)"
        " WHERE trashed_at IS NULL",
        "CREATE INDEX search_by_name ON files (user_id, is_file, name_key, id) WHERE trashed_at IS NULL",
        "CREATE INDEX trash_tops ON files (user_id, trashed_at, id) WHERE trash_id = id",
        "CREATE INDEX trash_tops_by_time ON files (trashed_at) WHERE trash_id = id",
        "CREATE INDEX files_by_trash ON files (trash_id) WHERE trash_id IS NOT NULL",
        "CREATE INDEX files_unkeyed ON files (id) WHERE name_key IS NULL",
        "ALTER TABLE users ADD COLUMN created_at REAL",
        "ALTER TABLE users ADD COLUMN quota_bytes INTEGER",  # NULL: storage.default_quota applies
        "ALTER TABLE users ADD COLUMN used_bytes INTEGER NOT NULL DEFAULT 0",
        "UPDATE users SET created_at = fm_id_time(id),"
        " used_bytes = (SELECT coalesce(sum(size), 0) FROM files WHERE files.user_id = users.id)",
        """CREATE TABLE share_links (
            id            TEXT PRIMARY KEY,
            user_id       TEXT NOT NULL,
            file_id       TEXT NOT NULL,
            token_hash    TEXT NOT NULL UNIQUE,
            created_at    REAL NOT NULL,
            expires_at    REAL NOT NULL,
            password_hash TEXT,
            max_downloads INTEGER,
            downloads     INTEGER NOT NULL DEFAULT 0,
            revoked_at    REAL
        ) WITHOUT ROWID""",
        "CREATE INDEX links_by_file ON share_links (user_id, file_id, created_at, id)",
        """CREATE TABLE uploads (
            id            TEXT PRIMARY KEY,
            user_id       TEXT NOT NULL,
            length        INTEGER NOT NULL,
            upload_offset INTEGER NOT NULL,
            name          TEXT NOT NULL,
            parent_id     TEXT NOT NULL,
            is_public     INTEGER NOT NULL,
            part_path     TEXT NOT NULL,
            created_at    REAL NOT NULL,
            expires_at    REAL NOT NULL,
            file_id       TEXT             -- set once, by finish_upload
        ) WITHOUT ROWID""",
        "CREATE INDEX uploads_reserving ON uploads (user_id, length) WHERE file_id IS NULL",
        "CREATE INDEX uploads_by_expiry ON uploads (expires_at)",
    ):
        conn.execute(statement)


def _v4_search_names(conn: sqlite3.Connection) -> None:
    """A search decides each name in an index and reads only the matches' rows.

    SQLite (3.40 at least) reads the table row of every entry it visits in
    an index that holds a virtual generated column (is_file) or whose WHERE
    tests a column it does not hold, even when the query needs nothing else.
    Searching through search_by_name thus cost a primary-key search per file
    of the user: half a second for 100,000 names (bench/list_bench.py).
    These two hold only stored columns, the kind and the live test among
    them, so instr() runs on the index and only matches reach the table; in
    (name_key, id) order, so the name sorts read them with a seek and stop
    once the page is full. Folders have their own, small, index: they come
    first, and finding a user's few folders must not read all their names.
    search_by_name stays for code of v3 still running in a rolling upgrade
    (INDEXED BY a dropped index is an error)."""
    conn.execute("CREATE INDEX search_names ON files (user_id, name_key, id, type, trashed_at)")
    conn.execute("CREATE INDEX search_folders ON files (user_id, name_key, id, type, trashed_at)"
                 " WHERE type = 'folder'")


def _v5_disabled_users(conn: sqlite3.Connection) -> None:
    """Accounts the operator disabled (`users disable`): they cannot log in.
    A constant default: SQLite adds the column without rewriting the table."""
    conn.execute("ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0")


MIGRATIONS: tuple[Migration, ...] = (_v1_tables, _v2_email_key, _v3_v2_api, _v4_search_names,
                                     _v5_disabled_users)
LATEST = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def _check_known(version: int, path: object) -> None:
    if version > LATEST:
        raise SchemaMismatch(
            f"SQLite database {path} has schema version {version}, newer than this"
            f" service knows ({LATEST}): run the newer version, or restore a backup"
        )


def refuse_old(conn: sqlite3.Connection, path: object = "") -> None:
    """StorageUnavailable, naming the command to run, when migrations are
    missing (storage.migrate = "manual": only the operator migrates)."""
    version = schema_version(conn)
    if version < LATEST:
        raise SchemaMismatch(
            f"SQLite database {path} has schema version {version}, this service needs {LATEST}"
            ' (storage.migrate = "manual"): run `python supervisor.py migrate` first'
        )


def migrate(conn: sqlite3.Connection, path: object = "") -> int:
    """Bring the database on `conn` (autocommit mode) to LATEST; the version it had."""
    version = schema_version(conn)
    _check_known(version, path)
    if version == LATEST:
        return version
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = schema_version(conn)  # another process may have migrated meanwhile
        _check_known(version, path)
        for number in range(version + 1, LATEST + 1):
            MIGRATIONS[number - 1](conn)
            log.info("storage.sqlite.migrated", path=str(path), version=number)
        conn.execute(f"PRAGMA user_version = {LATEST}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return version


def fill_email_keys(conn: sqlite3.Connection, path: object = "") -> None:
    """Give users without email_key theirs when it is free (rows written by an
    older version during a rolling upgrade, or by other tools), and say at
    each open which accounts share their email but for case with another
    (see _v2_email_key): those keep none and log in with their exact email."""
    missing = conn.execute("SELECT id, email FROM users WHERE email_key IS NULL ORDER BY id").fetchall()
    if not missing:
        return
    fillable = [(email_key(email), user_id) for user_id, email in missing if isinstance(email, str)]
    fillable = [(key, user_id) for key, user_id in fillable
                if conn.execute("SELECT 1 FROM users WHERE email_key = ?", (key,)).fetchone() is None]
    filled: set[str] = set()
    if fillable:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for key, user_id in fillable:
                try:
                    conn.execute("UPDATE users SET email_key = ? WHERE id = ? AND email_key IS NULL",
                                 (key, user_id))
                    filled.add(user_id)
                except sqlite3.IntegrityError:
                    pass  # an older row of this batch took it
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    left = [user_id for user_id, _ in missing if user_id not in filled]
    if left:
        log.warning(
            "storage.sqlite.duplicate_emails",
            path=str(path),
            detail="accounts whose emails differ only in case: each logs in with its exact email;"
                   " other spellings reach the oldest; no new account can take any spelling",
            user_ids=left[:20],
            more=len(left) > 20,
        )


def fill_file_keys(conn: sqlite3.Connection) -> None:
    """Give files written without name_key and times (by an older version during
    a rolling upgrade, or by other tools) theirs, as the v3 migration did for
    the rows it found: v2 lists sort and search by those columns. A look-up in
    a partial index of such rows, so nothing to do costs nothing."""
    if conn.execute("SELECT 1 FROM files WHERE name_key IS NULL LIMIT 1").fetchone() is None:
        return
    add_functions(conn)
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "UPDATE files SET name_key = fm_name_key(name), created_at = coalesce(created_at, fm_id_time(id)),"
            " updated_at = coalesce(updated_at, fm_id_time(id)) WHERE name_key IS NULL"
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
