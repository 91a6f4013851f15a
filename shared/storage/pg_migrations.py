"""The PostgreSQL schema, as numbered SQL migrations.

The database's version is the highest number in `schema_migrations` (0 when
the table is missing: a new database). `MIGRATIONS[n - 1]` takes the schema
from version n-1 to n. A released migration is never edited: a change to the
schema is a new step appended to the list.

`migrate` applies the missing steps in one transaction under
`pg_advisory_xact_lock`, reading the version again once it holds the lock:
several nodes starting at once are serialised, the first migrates, the others
find the version current and do nothing. PostgreSQL's DDL is transactional,
so a failed step leaves the database as it was. A database whose version is
newer than this code knows is refused rather than used.

At open (pg.py), storage.migrate = "auto" applies what is missing;
"manual" refuses to start on an old schema, naming the command to run.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SchemaMismatch
from ..logging import get_logger
from .pg_core import Connection

log = get_logger("storage.postgres")

# pg_advisory_xact_lock's key for migrations: any constant no other code of this database uses.
MIGRATION_LOCK = 0x66_6D_5F_6D_69_67  # "fm_mig"
MIGRATE_COMMAND = "python supervisor.py migrate"


@dataclass(frozen=True)
class Step:
    summary: str  # what `migrate` and `check` say about it
    statements: tuple[str, ...]


_V1_TABLES = Step(
    "users, files, share links and tus uploads, with the indexes every list and search seeks in",
    (
        # Trigram GIN index for name search (trusted since PostgreSQL 13: CREATE on the database suffices).
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        # Ids and name keys compare in code point order (COLLATE "C"), as every backend sorts
        # them, whatever the database's locale; it also lets btree indexes serve those orders.
        """CREATE TABLE users (
            id          text COLLATE "C" PRIMARY KEY,
            email       text NOT NULL,
            password    text NOT NULL,
            email_key   text NOT NULL UNIQUE,      -- base.email_key(email)
            created_at  double precision NOT NULL, -- epoch seconds
            quota_bytes bigint,                    -- NULL: storage.default_quota applies
            used_bytes  bigint NOT NULL DEFAULT 0, -- live and trashed files' sizes
            disabled    boolean NOT NULL DEFAULT false
        )""",
        """CREATE TABLE files (
            id             text COLLATE "C" PRIMARY KEY,
            user_id        text COLLATE "C" NOT NULL,
            name           text NOT NULL,
            type           text NOT NULL CHECK (type IN ('folder', 'file', 'image')),
            is_public      boolean NOT NULL DEFAULT false,
            parent_id      text COLLATE "C" NOT NULL,  -- '0' for the root
            local_path     text,
            seq            bigint,            -- v1 position in (user_id, parent_id), dense from 0;
                                              -- NULL: out of the order (the top of a deletion)
            size           bigint,            -- NULL: unknown
            sha256         text,
            mime_type      text,
            created_at     double precision NOT NULL,
            updated_at     double precision NOT NULL,
            trashed_at     double precision,  -- NULL: live
            trash_id       text COLLATE "C",  -- the top of the deletion that trashed this row
            has_thumbnails boolean NOT NULL DEFAULT false,
            name_key       text COLLATE "C" NOT NULL,  -- base.name_key(name)
            is_file        boolean GENERATED ALWAYS AS (type <> 'folder') STORED,  -- folders first
            size_key       bigint GENERATED ALWAYS AS (coalesce(size, 0)) STORED   -- no size sorts as 0
        )""",
        # v1 pages: an index seek to position 20n.
        "CREATE INDEX files_by_parent ON files (user_id, parent_id, seq)",
        # v2 lists: one keyset seek per sort key in the folder's live rows, folders then files.
        "CREATE INDEX live_by_name ON files (user_id, parent_id, is_file, name_key, id) WHERE trashed_at IS NULL",
        "CREATE INDEX live_by_updated ON files (user_id, parent_id, is_file, updated_at, id)"
        " WHERE trashed_at IS NULL",
        "CREATE INDEX live_by_size ON files (user_id, parent_id, is_file, size_key, id) WHERE trashed_at IS NULL",
        # Search: in name order a walk of the user's live names that stops when the page is
        # full (a common text); the trigram index finds the few names holding a rare one.
        "CREATE INDEX search_by_name ON files (user_id, is_file, name_key, id) WHERE trashed_at IS NULL",
        "CREATE INDEX search_trigrams ON files USING gin (name_key gin_trgm_ops) WHERE trashed_at IS NULL",
        # The trash: tops of deletions per user and by age, and each deletion's rows.
        "CREATE INDEX trash_tops ON files (user_id, trashed_at, id) WHERE trash_id = id",
        "CREATE INDEX trash_tops_by_time ON files (trashed_at) WHERE trash_id = id",
        "CREATE INDEX files_by_trash ON files (trash_id) WHERE trash_id IS NOT NULL",
        # fsck's walk of the files that have a blob, by id.
        "CREATE INDEX files_with_blobs ON files (id) WHERE local_path IS NOT NULL",
        """CREATE TABLE share_links (
            id            text COLLATE "C" PRIMARY KEY,
            user_id       text COLLATE "C" NOT NULL,
            file_id       text COLLATE "C" NOT NULL,
            token_hash    text NOT NULL UNIQUE,
            created_at    double precision NOT NULL,
            expires_at    double precision NOT NULL,
            password_hash text,
            max_downloads bigint,
            downloads     bigint NOT NULL DEFAULT 0,
            revoked_at    double precision
        )""",
        "CREATE INDEX links_by_file ON share_links (user_id, file_id, created_at, id)",
        """CREATE TABLE uploads (
            id            text COLLATE "C" PRIMARY KEY,
            user_id       text COLLATE "C" NOT NULL,
            length        bigint NOT NULL,
            upload_offset bigint NOT NULL,
            name          text NOT NULL,
            parent_id     text COLLATE "C" NOT NULL,
            is_public     boolean NOT NULL,
            part_path     text NOT NULL,
            created_at    double precision NOT NULL,
            expires_at    double precision NOT NULL,
            file_id       text COLLATE "C"   -- set once, by finish_upload
        )""",
        "CREATE INDEX uploads_reserving ON uploads (user_id, length) WHERE file_id IS NULL",
        "CREATE INDEX uploads_by_expiry ON uploads (expires_at)",
    ),
)

MIGRATIONS: tuple[Step, ...] = (_V1_TABLES,)
LATEST = len(MIGRATIONS)

_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    summary    text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


def steps_after(version: int) -> tuple[str, ...]:
    """`v1: <summary>` for each migration after `version`."""
    return tuple(f"v{number}: {step.summary}" for number, step in enumerate(MIGRATIONS, start=1)
                 if number > version)


# Whether the version table exists, read from pg_class with the statement's own
# snapshot. Not to_regclass: a name looked up and not found is remembered by
# the backend's catalog cache, which taking an advisory lock does not refresh,
# so a node that waited for another's migration would still not see its table.
_HAS_VERSIONS = """SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relname = 'schema_migrations' AND n.nspname = current_schema())"""


async def schema_version(conn: Connection) -> int:
    if not await conn.fetchval(_HAS_VERSIONS):
        return 0
    return await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations")


def _check_known(version: int, where: str) -> None:
    if version > LATEST:
        raise SchemaMismatch(
            f"PostgreSQL database {where} has schema version {version}, newer than this"
            f" service knows ({LATEST}): run the newer version, or restore a backup"
        )


def refuse_old(version: int, where: str) -> SchemaMismatch:
    """What a node says when storage.migrate = "manual" finds migrations missing."""
    return SchemaMismatch(
        f"PostgreSQL database {where} has schema version {version}, this service needs {LATEST}"
        f" (storage.migrate = \"manual\"): run `{MIGRATE_COMMAND}` first"
    )


async def migrate(conn: Connection, where: str) -> int:
    """Bring the database to LATEST under the advisory lock; the version found
    under the lock (the one before)."""
    version = await schema_version(conn)
    _check_known(version, where)
    if version == LATEST:
        return version
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        version = await schema_version(conn)  # another node may have migrated meanwhile
        _check_known(version, where)
        await conn.execute(_VERSION_TABLE)
        for number in range(version + 1, LATEST + 1):
            step = MIGRATIONS[number - 1]
            for statement in step.statements:
                await conn.execute(statement)
            await conn.execute("INSERT INTO schema_migrations (version, summary) VALUES ($1, $2)",
                               number, step.summary)
            log.info("storage.postgres.migrated", database=where, version=number)
    return version


async def prepare(conn: Connection, where: str, mode: str) -> None:
    """At open: "auto" migrates, "manual" refuses an old schema; a newer one is always refused."""
    version = await schema_version(conn)
    _check_known(version, where)
    if version == LATEST:
        return
    if mode == "manual":
        raise refuse_old(version, where)
    await migrate(conn, where)
