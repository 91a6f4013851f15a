"""The operator commands as an operator runs them: `python supervisor.py ...`
as a real process, against the private Redis and a real database (SQLite, and
MongoDB when FM_TEST_MONGO_URL names one), with real files in FOLDER_PATH."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from redis.asyncio import Redis

from shared.config import Settings
from shared.redis_client import open_redis
from shared.storage import Storage, open_storage
from tests.conftest import PROJECT


@pytest.fixture(params=["sqlite", "mongo"])
def backend_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The test's settings on each backend in turn."""
    if request.param == "mongo":
        return settings.replace(storage={"db_url": request.getfixturevalue("mongo_db_url")})
    return settings


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
