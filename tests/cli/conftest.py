"""The operator's commands as an operator runs them: `python supervisor.py
COMMAND ...` in a process of its own, against the test's private Redis and a
real database: SQLite always, MongoDB too when FM_TEST_MONGO_URL names one
(`backend_env`; a skip saying why otherwise)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT, service_env


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def cli(env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = 120) -> Ran:
    """`python supervisor.py ARGS` with `env` over this process's environment."""
    done = subprocess.run([sys.executable, str(PROJECT / "supervisor.py"), *args], cwd=PROJECT,
                          env={**os.environ, **env}, input=stdin if stdin is not None else "",
                          capture_output=True, text=True, timeout=timeout)
    return Ran(done.returncode, done.stdout, done.stderr)


async def acli(env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = 120) -> Ran:
    """`cli` from a test's event loop, which goes on meanwhile (a SQLite
    read snapshot of the test's own storage ends with its loop iteration)."""
    return await asyncio.to_thread(cli, env, *args, stdin=stdin, timeout=timeout)


@pytest.fixture
def env(tmp_path: Path, redis_url: str) -> dict[str, str]:
    """A service's settings on SQLite (see tests/conftest.service_env)."""
    return service_env(tmp_path, redis_url)


@pytest.fixture(params=["sqlite", "mongo"])
def backend_env(request: pytest.FixtureRequest, env: dict[str, str]) -> dict[str, str]:
    """`env` on each backend in turn (mongo is skipped, saying why, without FM_TEST_MONGO_URL)."""
    if request.param == "mongo":
        return {**env, "DB_URL": request.getfixturevalue("mongo_db_url")}
    return env
