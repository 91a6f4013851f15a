"""`python supervisor.py migrate`: what it applies, that it is idempotent,
that nodes running it at once are safe, and that it refuses a database from
a newer version."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from shared.config import redact
from shared.storage import open_storage
from shared.storage.pg_migrations import LATEST as PG_LATEST
from shared.storage.sqlite_migrations import LATEST
from tests.conftest import free_port
from tests.engines.postgres import server_url

from .conftest import acli, cli, supervisor


def test_a_new_sqlite_database_gets_every_migration_in_order(sqlite_env, tmp_path):
    done = cli(sqlite_env, "migrate", "--json")
    assert done.code == 0, done.stderr
    result = done.json()
    assert (result["backend"], result["fromVersion"], result["toVersion"]) == ("sqlite", 0, LATEST)
    assert [step.split(":")[0] for step in result["applied"]] == [f"v{n}" for n in range(1, LATEST + 1)]
    assert result["failed"] == []
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        assert db.execute("PRAGMA user_version").fetchone() == (LATEST,)
    db.close()

    again = cli(sqlite_env, "migrate")
    assert again.code == 0
    assert again.stdout == f"{sqlite_env['DB_URL']}: schema version {LATEST}, nothing to migrate\n"


async def test_an_older_database_gets_the_missing_ones_and_keeps_its_data(sqlite_env, tmp_path):
    storage = await open_storage(sqlite_env["DB_URL"])
    user = await storage.create_user("old@example.com", "hash")
    await storage.close()
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:  # as version 4 left it
        db.execute("ALTER TABLE users DROP COLUMN disabled")
        db.execute("PRAGMA user_version = 4")
    db.close()

    done = await acli(sqlite_env, "migrate")
    assert done.code == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"{sqlite_env['DB_URL']}: schema version 4 -> {LATEST}"
    assert lines[1].startswith("  applied v5: ") and len(lines) == 2

    storage = await open_storage(sqlite_env["DB_URL"])
    try:
        kept = await storage.user_by_id(user.id)
        assert kept is not None and kept.email == "old@example.com" and kept.disabled is False
    finally:
        await storage.close()


async def test_nodes_migrating_at_once_apply_each_migration_once(sqlite_env):
    """Four processes on one new database: one applies everything, under the
    database's write lock; the others wait for it and find nothing to do."""
    runs = await asyncio.gather(*(acli(sqlite_env, "migrate", "--json") for _ in range(4)))
    assert [run.code for run in runs] == [0, 0, 0, 0], [run.stderr for run in runs]
    applied = sorted(len(run.json()["applied"]) for run in runs)
    assert applied == [0, 0, 0, LATEST]
    assert {run.json()["toVersion"] for run in runs} == {LATEST}


def test_a_database_from_a_newer_version_is_refused(sqlite_env, tmp_path):
    cli(sqlite_env, "migrate")
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        db.execute(f"PRAGMA user_version = {LATEST + 1}")
    db.close()
    done = cli(sqlite_env, "migrate", "--json")
    assert (done.code, done.stdout) == (1, "")
    assert f"schema version {LATEST + 1}, newer than this service knows" in done.stderr


def test_mongodb_gets_its_indexes_once(mongo_db_url, sqlite_env):
    sqlite_env = {**sqlite_env, "DB_URL": mongo_db_url}
    before = cli(sqlite_env, "check", "--json").json()["checks"][2]
    assert before["name"] == "database" and len(before["pending"]) > 0

    done = cli(sqlite_env, "migrate", "--json")
    assert done.code == 0, done.stderr
    result = done.json()
    assert (result["backend"], result["fromVersion"], result["toVersion"]) == ("mongodb", None, None)
    assert sorted(result["applied"]) == sorted(before["pending"]) and result["failed"] == []
    assert "users.emailKey_1" in result["applied"]

    again = cli(sqlite_env, "migrate")
    assert again.code == 0 and again.stdout.endswith("every index present, nothing to migrate\n")
    assert cli(sqlite_env, "check", "--json").json()["checks"][2]["pending"] == []


def test_an_unreachable_database_is_a_problem(sqlite_env):
    done = cli({**sqlite_env, "DB_URL": "mongodb://127.0.0.1:1/x?serverSelectionTimeoutMS=500"}, "migrate")
    assert (done.code, done.stdout) == (1, "")
    assert "does not answer" in done.stderr


def test_help_says_what_it_does(sqlite_env):
    done = cli(sqlite_env, "migrate", "--help")
    assert done.code == 0 and "at the same time" in " ".join(done.stdout.split()) and "--json" in done.stdout


# ---------------------------------------------------------------- PostgreSQL


def test_a_new_postgres_database_gets_every_migration_once(sqlite_env, pg_db_url):
    env = {**sqlite_env, "DB_URL": pg_db_url}
    done = cli(env, "migrate", "--json")
    assert done.code == 0, done.stderr
    result = done.json()
    assert (result["backend"], result["fromVersion"], result["toVersion"]) == ("postgresql", 0, PG_LATEST)
    assert [step.split(":")[0] for step in result["applied"]] == [f"v{n}" for n in range(1, PG_LATEST + 1)]
    again = cli(env, "migrate")
    assert (again.code, again.stdout) == (0, f"{redact(pg_db_url)}: schema version {PG_LATEST}, nothing to migrate\n")


async def test_postgres_nodes_migrating_at_once_apply_each_migration_once(sqlite_env, pg_db_url):
    """Four processes on one new database: the advisory lock lets one apply
    everything; the others read the version again under it and do nothing."""
    env = {**sqlite_env, "DB_URL": pg_db_url}
    runs = await asyncio.gather(*(acli(env, "migrate", "--json") for _ in range(4)))
    assert [run.code for run in runs] == [0, 0, 0, 0], [run.stderr for run in runs]
    assert sorted(len(run.json()["applied"]) for run in runs) == [0, 0, 0, PG_LATEST]
    conn = await asyncpg.connect(pg_db_url)
    try:
        rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    assert [row["version"] for row in rows] == list(range(1, PG_LATEST + 1))


async def test_a_postgres_database_from_a_newer_version_is_refused(sqlite_env, pg_db_url):
    env = {**sqlite_env, "DB_URL": pg_db_url}
    assert cli(env, "migrate").code == 0
    conn = await asyncpg.connect(pg_db_url)
    try:
        await conn.execute("INSERT INTO schema_migrations (version, summary) VALUES ($1, 'from the future')",
                           PG_LATEST + 1)
    finally:
        await conn.close()
    done = await acli(env, "migrate", "--json")
    assert (done.code, done.stdout) == (1, "")
    assert f"schema version {PG_LATEST + 1}, newer than this service knows" in done.stderr


def test_an_unreachable_postgres_is_a_problem(sqlite_env):
    done = cli({**sqlite_env, "DB_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/x"}, "migrate")
    assert (done.code, done.stdout) == (1, "")
    assert "does not answer" in done.stderr


def test_with_manual_migrations_a_node_refuses_an_old_schema_at_once(sqlite_env, pg_db_url):
    """storage.migrate = "manual": the service does not start (exit 3, not
    after the start timeout), names the command, and has changed nothing."""
    env = {**sqlite_env, "DB_URL": pg_db_url, "DB_MIGRATE": "manual", "START_TIMEOUT": "60"}
    done = supervisor({**os.environ, **env})
    assert done.code == 3, done.stderr
    assert "run `python supervisor.py migrate` first" in done.stderr
    assert cli(env, "check", "--json").json()["checks"][2]["schemaVersion"] == 0
    assert cli(env, "migrate").code == 0


async def test_a_database_owner_without_superuser_can_migrate(sqlite_env, pg_db_url):
    """What README's PostgreSQL section asks of the user: owning the database
    (CREATE on it, for the trusted pg_trgm, and on its public schema)."""
    role = f"fm_owner_{uuid.uuid4().hex[:12]}"
    database = urlsplit(pg_db_url).path[1:]
    admin = await asyncpg.connect(pg_db_url)
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER')
        await admin.execute(f'ALTER DATABASE "{database}" OWNER TO "{role}"')
        parts = urlsplit(pg_db_url)
        as_owner = urlunsplit((parts.scheme, f"{role}@{parts.hostname}:{parts.port or 5432}", parts.path, "", ""))
        done = await acli({**sqlite_env, "DB_URL": as_owner}, "migrate", "--json")
        assert done.code == 0, done.stderr
        assert done.json()["toVersion"] == PG_LATEST
        assert await admin.fetchval("SELECT extname FROM pg_extension WHERE extname = 'pg_trgm'") == "pg_trgm"
        assert await admin.fetchval("SELECT tableowner FROM pg_tables WHERE tablename = 'files'") == role
    finally:
        await admin.execute(f'DROP OWNED BY "{role}"')
        await admin.close()
        server = await asyncpg.connect(server_url())
        try:  # the role goes, and first the database it owns
            await server.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await server.execute(f'DROP ROLE IF EXISTS "{role}"')
        finally:
            await server.close()
