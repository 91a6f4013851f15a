"""API fixtures. Every contract test runs four ways:

- `sqlite`: the real app (create_app) on a real port, over a temp SQLite file;
- `postgres`: the same over a PostgreSQL database of its own (tests/engines/postgres.py);
- `mongo`: the same over MongoDB, when FM_TEST_MONGO_URL names a server;
- `s3`: as `sqlite`, with content and thumbnails in a bucket of moto's S3
  server (tests/engines/s3.py);
- `live`: over HTTP against `python supervisor.py` itself (two API worker
  processes on one socket, SQLite), started once for the session and emptied
  before each test: the service as an operator runs it.
"""

from __future__ import annotations

import base64
import contextlib
import shutil
import sqlite3
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from services.api.app import create_app
from services.api.edge import RUNNER_OPTIONS
from shared.config import Settings, load_settings
from shared.storage import Storage, open_storage
from tests.conftest import running_supervisor, service_env
from tests.engines.s3 import with_s3

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LiveService:
    url: str
    settings: Settings
    log: Path
    proc: subprocess.Popen

    def reset(self) -> None:
        """Empty the database and the folder (Redis is flushed by `redis_url`)."""
        with sqlite3.connect(self.settings.storage.db_url.removeprefix("sqlite:///")) as db:
            for table in ("files", "users", "share_links", "uploads"):
                db.execute(f"DELETE FROM {table}")
        folder = self.settings.storage.folder_path
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)  # an API worker still starting may have made it again


@contextlib.contextmanager
def running_service(folder: Path, redis_url: str, **env_overrides: str) -> Iterator[LiveService]:
    """`python supervisor.py` on a SQLite file and a files folder in `folder`,
    until the block ends: then stopped with SIGINT, and it must exit 0."""
    env = service_env(folder, redis_url, API_WORKERS="2",
                      JOB_WORKERS="0",  # the tests look at the jobs the API enqueues
                      **env_overrides)
    log = folder / "service.log"
    with running_supervisor(env, log) as proc:
        yield LiveService(f"http://127.0.0.1:{env['PORT']}", load_settings(env=env), log, proc)


@pytest.fixture(scope="session")
def live_service(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    with running_service(tmp_path_factory.mktemp("live"), redis_server) as live:
        yield live


@pytest.fixture(params=["sqlite", "postgres", "mongo", "live", "s3"])
def backend_settings(request: pytest.FixtureRequest, settings: Settings):
    if request.param == "sqlite":
        yield settings
        return
    if request.param == "s3":  # SQLite, and the content in a fresh bucket of moto's S3 server
        yield with_s3(settings, request.getfixturevalue("s3_bucket"))
        return
    if request.param == "live":
        live = request.getfixturevalue("live_service")
        live.reset()
        yield live.settings
        return
    url = request.getfixturevalue("pg_db_url" if request.param == "postgres" else "mongo_db_url")
    yield settings.replace(storage={"db_url": url})


@pytest.fixture
async def client(request: pytest.FixtureRequest, aiohttp_client, aiohttp_server, backend_settings: Settings):
    if request.node.callspec.params.get("backend_settings") != "live":
        # The runner options of an API worker: its request line (services/api/edge.py).
        yield await aiohttp_client(await aiohttp_server(create_app(backend_settings), **RUNNER_OPTIONS))
        return
    live = request.getfixturevalue("live_service")
    async with aiohttp.ClientSession(base_url=live.url) as session:
        yield session


@pytest.fixture
async def storage(backend_settings: Settings) -> AsyncIterator[Storage]:
    """The backend of the service under test, opened by the test itself (to
    set up what the API cannot, or to look at what it stored)."""
    opened = await open_storage(backend_settings.storage.db_url)
    yield opened
    await opened.close()


@pytest.fixture
def service_output(request: pytest.FixtureRequest, capsys: pytest.CaptureFixture):
    """read(wait_for="", count=1) -> what the service logged since the last
    read: this process's stdout for in-process backends, the supervisor's log
    for `live`, whose request lines are buffered up to 0.1 s: read waits (with
    a deadline) until `wait_for` appears `count` times."""
    live = (request.getfixturevalue("live_service")
            if request.node.callspec.params.get("backend_settings") == "live" else None)
    position = [live.log.stat().st_size if live else 0]
    capsys.readouterr()

    def read(wait_for: str = "", count: int = 1) -> str:
        out = capsys.readouterr().out
        if live:
            deadline = time.monotonic() + 5
            while True:
                with open(live.log, "rb") as fh:
                    fh.seek(position[0])
                    data = fh.read().decode(errors="replace")
                if not wait_for or data.count(wait_for) >= count or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            position[0] += len(data.encode())
            out += data
        return out

    return read


def basic(email: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{email}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class Account:
    id: str
    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Token": self.token}


async def sign_up(client: TestClient, email: str | None = None, password: str = "s3cret!") -> Account:
    email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
    resp = await client.post("/users", json={"email": email, "password": password})
    assert resp.status == 201, await resp.text()
    user_id = (await resp.json())["id"]
    resp = await client.get("/connect", headers=basic(email, password))
    assert resp.status == 200, await resp.text()
    return Account(user_id, email, password, (await resp.json())["token"])


@pytest.fixture
async def alice(client: TestClient) -> Account:
    return await sign_up(client, "alice@example.com", "alice-pw")


@pytest.fixture
async def bob(client: TestClient) -> Account:
    return await sign_up(client, "bob@example.com", "bob-pw")


async def upload(client: TestClient, account: Account, **body) -> dict:
    resp = await client.post("/files", json=body, headers=account.headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()
