"""`python supervisor.py check`: each thing it checks, found well and found
broken for real (Redis down, a database from the future, a folder that is a
file, a full disk), and the exit code that says so."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from shared.storage.pg_migrations import LATEST as PG_LATEST
from tests.conftest import free_port

from .conftest import Ran, cli

NAMES = ["config", "redis", "database", "folder", "disk"]


def checks(done: Ran) -> dict[str, dict]:
    return {c["name"]: c for c in done.json()["checks"]}


def test_all_is_well(env):
    done = cli(env, "check", "--json")
    assert done.code == 0, done.stdout + done.stderr
    assert done.json()["ok"] is True and list(checks(done)) == NAMES
    found = checks(done)
    assert found["redis"]["version"].count(".") == 2
    assert found["config"]["port"] == int(env["PORT"])
    database = found["database"]
    assert database["backend"] == env["DB_URL"].partition(":")[0].replace("mongodb+srv", "mongodb")
    assert database["serverVersion"]
    assert found["disk"]["freeBytes"] > 0
    assert done.stderr == ""

    text = cli(env, "check")
    assert text.code == 0
    assert [line.split()[:2] for line in text.stdout.splitlines()] == [["ok", name] for name in NAMES]


def test_an_sqlite_database_reports_its_schema_version(sqlite_env):
    cli(sqlite_env, "migrate")
    found = checks(cli(sqlite_env, "check", "--json"))["database"]
    assert (found["schemaVersion"], found["latestSchemaVersion"], found["pending"]) == (5, 5, [])
    assert "schema version 5 of 5" in found["detail"]


def test_a_pending_migration_is_said_but_is_no_failure(sqlite_env, tmp_path):
    cli(sqlite_env, "migrate")
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        db.execute("ALTER TABLE users DROP COLUMN disabled")
        db.execute("PRAGMA user_version = 4")
    db.close()
    done = cli(sqlite_env, "check", "--json")
    assert done.code == 0  # the service migrates at start
    found = checks(done)["database"]
    assert found["schemaVersion"] == 4 and len(found["pending"]) == 1 and found["pending"][0].startswith("v5: ")
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:  # and the check changed nothing
        assert db.execute("PRAGMA user_version").fetchone() == (4,)
    db.close()


def test_a_postgres_database_reports_its_schema_version(sqlite_env, pg_db_url):
    env = {**sqlite_env, "DB_URL": pg_db_url}
    before = checks(cli(env, "check", "--json"))["database"]
    assert (before["backend"], before["schemaVersion"], before["latestSchemaVersion"]) == ("postgresql", 0, PG_LATEST)
    assert len(before["pending"]) == PG_LATEST and before["serverVersion"].split(".")[0].isdigit()
    cli(env, "migrate")
    found = checks(cli(env, "check", "--json"))["database"]
    assert (found["schemaVersion"], found["pending"]) == (PG_LATEST, [])
    assert f"PostgreSQL {found['serverVersion']}, schema version {PG_LATEST} of {PG_LATEST}" in found["detail"]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_pending_migration_fails_when_migrations_are_manual(sqlite_env, backend, request):
    env = {**sqlite_env, "DB_MIGRATE": "manual"}
    if backend == "postgres":
        env["DB_URL"] = request.getfixturevalue("pg_db_url")
    else:
        cli(sqlite_env, "check")  # a file that exists, at version 0
        sqlite3.connect(sqlite_env["DB_URL"].removeprefix("sqlite:///")).close()
    done = cli(env, "check", "--json")
    assert done.code == 1
    found = checks(done)["database"]
    assert found["ok"] is False and "will not start until `migrate` has run" in found["detail"]
    assert cli(env, "migrate").code == 0
    assert cli(env, "check").code == 0


def test_redis_down_fails(sqlite_env):
    done = cli({**sqlite_env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}, "check", "--json")
    assert done.code == 1
    found = checks(done)
    assert found["redis"]["ok"] is False and "ConnectionError" in found["redis"]["detail"]
    assert all(found[name]["ok"] for name in NAMES if name != "redis")
    assert "check redis failed" in done.stderr


def test_a_database_newer_than_this_service_fails(sqlite_env, tmp_path):
    cli(sqlite_env, "migrate")
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    done = cli(sqlite_env, "check")
    assert done.code == 1
    assert "FAIL  database" in done.stdout and "newer than this service knows" in done.stdout


def test_a_folder_that_is_a_file_fails(sqlite_env, tmp_path):
    (tmp_path / "not-a-folder").write_text("")
    done = cli({**sqlite_env, "FOLDER_PATH": str(tmp_path / "not-a-folder")}, "check", "--json")
    assert done.code == 1
    assert checks(done)["folder"]["ok"] is False and "not a folder" in checks(done)["folder"]["detail"]


def test_a_missing_folder_is_fine_when_it_can_be_created(sqlite_env, tmp_path):
    done = cli({**sqlite_env, "FOLDER_PATH": str(tmp_path / "a" / "b")}, "check", "--json")
    assert done.code == 0 and "created at start" in checks(done)["folder"]["detail"]
    assert not (tmp_path / "a").exists()  # a check changes nothing


def test_a_nearly_full_disk_fails(sqlite_env, tmpfs):
    small = tmpfs("50m")  # under the 100 MiB a check asks for
    done = cli({**sqlite_env, "FOLDER_PATH": str(small / "files")}, "check", "--json")
    assert done.code == 1
    disk = checks(done)["disk"]
    assert disk["ok"] is False and disk["freeBytes"] <= 50 * 1024 * 1024 and "uploads will fail" in disk["detail"]
    assert checks(done)["folder"]["ok"] is True


def test_no_secret_is_shown(sqlite_env):
    secret_env = {**sqlite_env, "METRICS_TOKEN": "metrics-secret-123",
                  "REDIS_URL": f"redis://someone:redis-secret-456@127.0.0.1:{free_port()}/0"}
    done = cli(secret_env, "check", "--json")
    assert done.code == 1  # nobody at that address
    for secret in ("metrics-secret-123", "redis-secret-456"):
        assert secret not in done.stdout and secret not in done.stderr
    assert checks(done)["config"]["metricsToken"] == "set"


@pytest.mark.parametrize("setting", [{"PORT": "nope"}, {"DB_URL": "mysql://x"}])
def test_a_configuration_that_does_not_load_exits_2(sqlite_env, setting):
    done = cli({**sqlite_env, **setting}, "check")
    assert (done.code, done.stdout) == (2, "")
    assert "configuration error" in done.stderr


def test_help_says_what_it_checks(sqlite_env: dict[str, str], tmp_path: Path):
    done = cli(sqlite_env, "check", "--help")
    assert done.code == 0 and "without changing anything" in done.stdout and "--json" in done.stdout


def test_a_bucket_that_answers_is_checked(env, s3_bucket):
    done = cli({**env, **s3_bucket.env}, "check", "--json")
    assert done.code == 0, done.stdout + done.stderr
    found = checks(done)
    assert list(found) == [*NAMES, "blobs"]
    assert found["blobs"]["ok"] is True and found["blobs"]["url"] == s3_bucket.blob_url
    assert "the bucket answers" in found["blobs"]["detail"]


def test_a_missing_bucket_is_said_plainly(sqlite_env, s3_bucket):
    gone = {**s3_bucket.env, "BLOB_URL": "s3://no-such-bucket-here/files"}
    done = cli({**sqlite_env, **gone}, "check")
    assert done.code == 1
    assert "check blobs failed: s3://no-such-bucket-here/files" in done.stderr
    assert "the bucket 'no-such-bucket-here' does not exist: create it" in done.stderr


def test_an_object_store_that_does_not_answer_fails(sqlite_env, s3_bucket):
    down = {**s3_bucket.env, "S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    done = cli({**sqlite_env, **down}, "check", "--json")
    assert done.code == 1
    found = checks(done)["blobs"]
    assert found["ok"] is False and "does not answer" in found["detail"]
