"""Settings: config.toml < environment < flags; every mistake named on one line."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from shared.config import PROJECT_ROOT, ConfigError, blob_location, is_volatile, load_settings


def test_defaults_from_config_toml():
    s = load_settings(env={})
    assert s.server.port == 5000
    assert s.storage.folder_path == PROJECT_ROOT / "data" / "files"  # beside the database, not in /tmp
    assert s.storage.db_url == "sqlite:///data/files_manager.sqlite3"
    assert s.redis.url == "redis://127.0.0.1:6379/0"
    assert s.worker.processes == 1
    assert s.security.token_ttl == 86400


def test_environment_overrides_the_file():
    s = load_settings(env={"PORT": "8080", "FOLDER_PATH": "/srv/files", "REDIS_URL": "redis://r:6380/2",
                           "API_WORKERS": "3", "JOB_WORKERS": "2", "GRACEFUL_TIMEOUT": "5.5",
                           "HEARTBEAT_TIMEOUT": "7"})
    assert s.server.port == 8080
    assert s.storage.folder_path == Path("/srv/files")
    assert s.redis.url == "redis://r:6380/2"
    assert (s.server.workers, s.worker.processes) == (3, 2)
    assert (s.supervisor.graceful_timeout, s.supervisor.heartbeat_timeout) == (5.5, 7.0)


def test_flags_override_the_environment():
    s = load_settings(env={"PORT": "8080"}, overrides={"server.port": 9090})
    assert s.server.port == 9090


def test_original_db_names_mean_mongodb():
    s = load_settings(env={"DB_HOST": "mongo.internal", "DB_PORT": "27018", "DB_DATABASE": "fm"})
    assert s.storage.db_url == "mongodb://mongo.internal:27018/fm"
    s = load_settings(env={"DB_HOST": "localhost"})
    assert s.storage.db_url == "mongodb://localhost:27017/files_manager"


def test_db_url_wins_over_db_host():
    s = load_settings(env={"DB_HOST": "mongo", "DB_URL": "sqlite:////var/lib/fm.sqlite3"})
    assert s.storage.db_url == "sqlite:////var/lib/fm.sqlite3"


@pytest.mark.parametrize(("env", "folder"), [
    # The original's mode: DB_HOST names its MongoDB, FOLDER_PATH unset: the original's default,
    # so a drop-in finds the files its documents point at.
    ({"DB_HOST": "mongo"}, Path("/tmp/files_manager")),
    ({"DB_HOST": "mongo", "DB_PORT": "27018", "DB_DATABASE": "fm"}, Path("/tmp/files_manager")),
    ({"DB_HOST": "mongo", "FOLDER_PATH": "/srv/files"}, Path("/srv/files")),
    ({"DB_HOST": "mongo", "DB_URL": "mongodb://mongo/fm"}, PROJECT_ROOT / "data" / "files"),
    ({"DB_URL": "mongodb://mongo/fm"}, PROJECT_ROOT / "data" / "files"),
    ({"DB_HOST": "", "FOLDER_PATH": ""}, PROJECT_ROOT / "data" / "files"),
])
def test_the_folders_default_follows_the_database(env, folder):
    assert load_settings(env=env).storage.folder_path == folder


def test_a_folder_set_in_the_file_wins_over_the_originals_default(tmp_path):
    config = tmp_path / "c.toml"
    source = (PROJECT_ROOT / "config.toml").read_text()
    config.write_text(source.replace('folder_path = ""', 'folder_path = "/srv/fm"', 1))
    assert load_settings(config, env={"DB_HOST": "mongo"}).storage.folder_path == Path("/srv/fm")


def test_content_under_tmp_is_volatile():
    assert is_volatile(Path("/tmp/files_manager")) and is_volatile(Path("/tmp"))
    assert not is_volatile(Path("/srv/files-manager/data/files"))  # not the checkout's: it may be under /tmp
    assert not is_volatile(Path("/tmpfiles/x")) and not is_volatile(Path("/var/tmp/x"))
    with tempfile.TemporaryDirectory(dir="/var/tmp") as lasting:
        link = Path(lasting) / "link"
        link.symlink_to("/tmp")
        assert is_volatile(link / "files")  # resolved: where the bytes really go


def test_relative_folder_is_relative_to_the_project():
    s = load_settings(env={"FOLDER_PATH": "blobs"})
    assert s.storage.folder_path == PROJECT_ROOT / "blobs"


@pytest.mark.parametrize(
    "env, message",
    [
        ({"PORT": "abc"}, "server.port (PORT): 'abc' is not a whole number"),
        ({"PORT": "70000"}, "server.port (PORT): '70000' is above the maximum 65535"),
        ({"API_WORKERS": "-1"}, "server.workers (API_WORKERS): '-1' is below the minimum 0"),
        ({"GRACEFUL_TIMEOUT": "soon"}, "supervisor.graceful_timeout (GRACEFUL_TIMEOUT): 'soon' is not a number"),
        ({"LOG_LEVEL": "loud"}, "log.level (LOG_LEVEL): 'loud' is not one of debug, info, warning, error"),
        ({"DB_URL": "mysql://x"},
         "storage.db_url (DB_URL): 'mysql://x' is none of sqlite:///path, postgresql://... or mongodb://..."),
        ({"DB_URL": "mysql://root:hunter2@x/db"},
         "storage.db_url (DB_URL): 'mysql://***@x/db' is none of sqlite:///path, postgresql://... or mongodb://..."),
        ({"BLOB_URL": "s3://Big_Bucket/x"},
         "storage.blob_url (BLOB_URL): 'Big_Bucket' is not an S3 bucket name (3-63 of a-z, 0-9, '.', '-')"),
        ({"BLOB_URL": "/srv/files"}, "storage.blob_url (BLOB_URL): '/srv/files' is not s3://bucket/prefix"),
        ({"BLOBS_REDIRECT_DOWNLOADS": "maybe"},
         "blobs.redirect_downloads (BLOBS_REDIRECT_DOWNLOADS): 'maybe' is not true or false"),
        ({"BLOBS_PART_SIZE": "1048576"}, "blobs.part_size (BLOBS_PART_SIZE): '1048576' is below the minimum 5242880"),
        ({"DB_HOST": "h", "DB_PORT": "x"}, "DB_PORT: 'x' is not a port number"),
    ],
)
def test_bad_values_are_named(env, message):
    with pytest.raises(ConfigError) as err:
        load_settings(env=env)
    assert str(err.value) == message


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"config file not found: .*nope\.toml"):
        load_settings(tmp_path / "nope.toml", env={})


def test_unknown_key_and_section(tmp_path):
    source = (PROJECT_ROOT / "config.toml").read_text()
    bad = tmp_path / "c.toml"
    bad.write_text(source.replace("[server]\n", "[server]\nprot = 1\n"))
    with pytest.raises(ConfigError, match=r"unknown setting server.prot"):
        load_settings(bad, env={})
    bad.write_text(source + "\n[extra]\nx = 1\n")
    with pytest.raises(ConfigError, match=r"unknown section \[extra\]"):
        load_settings(bad, env={})


def test_invalid_toml_and_wrong_type_in_file(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text("[server\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(bad, env={})
    source = (PROJECT_ROOT / "config.toml").read_text()
    bad.write_text(source.replace("port = 5000", 'port = "five thousand"'))
    with pytest.raises(ConfigError, match=r"server.port \(c.toml\): 'five thousand' is not a whole number"):
        load_settings(bad, env={})


def test_settings_are_frozen():
    s = load_settings(env={})
    with pytest.raises(AttributeError):
        s.server.port = 1  # type: ignore[misc]


@pytest.mark.parametrize("raw, value", [("true", True), ("1", True), ("on", True), ("False", False), ("0", False)])
def test_a_switch_reads_the_usual_spellings(raw, value):
    assert load_settings(env={"BLOBS_REDIRECT_DOWNLOADS": raw}).blobs.redirect_downloads is value


@pytest.mark.parametrize("url, bucket, prefix", [
    ("s3://files", "files", ""), ("s3://files/", "files", ""), ("s3://my.files-1/a/b/", "my.files-1", "a/b"),
])
def test_a_blob_url_names_a_bucket_and_a_prefix(url, bucket, prefix):
    assert load_settings(env={"BLOB_URL": url}).storage.blob_url == url
    assert blob_location(url) == (bucket, prefix)


@pytest.mark.parametrize("url", ["postgresql://fm@db.internal:5432/files", "postgres://localhost/files"])
def test_a_postgresql_url_is_taken(url):
    assert load_settings(env={"DB_URL": url}).storage.db_url == url
