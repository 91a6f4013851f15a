"""The operator commands as an operator runs them: `python supervisor.py ...`
as a real process, against the private Redis and a real database (SQLite,
PostgreSQL, and MongoDB when FM_TEST_MONGO_URL names one), with real files in
FOLDER_PATH."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from shared.config import Settings
from shared.redis_client import open_redis
from shared.storage import Storage, open_storage
from tests.conftest import PROJECT, service_env


@pytest.fixture(params=["sqlite", "postgres", "mongo"])
def backend_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The test's settings on each backend in turn."""
    if request.param == "sqlite":
        return settings
    url = request.getfixturevalue("pg_db_url" if request.param == "postgres" else "mongo_db_url")
    return settings.replace(storage={"db_url": url})


@pytest.fixture
def env(env_for: dict[str, str], backend_settings: Settings) -> dict[str, str]:
    return {**env_for, "DB_URL": backend_settings.storage.db_url}


@pytest.fixture
async def storage(backend_settings: Settings) -> AsyncIterator[Storage]:
    backend_settings.storage.folder_path.mkdir(parents=True, exist_ok=True)
    store = await open_storage(backend_settings.storage.db_url)
    yield store
    await store.close()


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = open_redis(settings.redis.url)
    yield client
    await client.aclose()


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def supervisor(env: dict[str, str], *args: str, **popen: Any) -> Ran:
    """`python supervisor.py ARGS` to its end (stdout and stderr are pipes: not a terminal)."""
    done = subprocess.run([sys.executable, str(PROJECT / "supervisor.py"), *args], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=120, **popen)
    return Ran(done.returncode, done.stdout, done.stderr)


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> Ran:
    """`supervisor` with `env` over this process's environment and `stdin`
    as its input (never the test's terminal: empty when not given)."""
    return supervisor({**os.environ, **env}, *args, input=stdin if stdin is not None else "")


async def acli(env: dict[str, str], *args: str, stdin: str | None = None) -> Ran:
    """`cli` from a test's event loop, which goes on meanwhile (a SQLite
    read snapshot of the test's own storage ends with its loop iteration)."""
    return await asyncio.to_thread(cli, env, *args, stdin=stdin)


@pytest.fixture
def sqlite_env(tmp_path: Path, redis_url: str) -> dict[str, str]:
    """A service's settings on SQLite alone (tests/conftest.service_env): for
    what only SQLite has (schema versions) and what needs no second backend."""
    return service_env(tmp_path, redis_url)
