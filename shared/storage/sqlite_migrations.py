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

`fill_email_keys`, also run at every open, keeps what v2 set up true for rows
written without email_key since (by an older version during a rolling
upgrade, or by other tools).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from ..errors import StorageUnavailable
from ..logging import get_logger
from .base import email_key

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


MIGRATIONS: tuple[Migration, ...] = (_v1_tables, _v2_email_key)
LATEST = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def _check_known(version: int, path: object) -> None:
    if version > LATEST:
        raise StorageUnavailable(
            f"SQLite database {path} has schema version {version}, newer than this"
            f" service knows ({LATEST}): run the newer version, or restore a backup"
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
