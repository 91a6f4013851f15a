"""What a client gets when the database fails: a full disk is 507 and leaves
nothing behind, an unreachable MongoDB or PostgreSQL is 503 on every route that needs it, a
SQLite write that cannot get the lock in time is 503 + Retry-After. The
backends translate their drivers' errors; the API's error mapping knows
nothing of sqlite3, asyncpg or pymongo."""

from __future__ import annotations

import ast
import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from services.api.app import create_app
from shared.config import Settings
from shared.storage import new_id
from tests.conftest import fill_disk

from .conftest import ROOT, b64, basic, sign_up


def test_the_api_error_mapping_imports_no_database_driver() -> None:
    tree = ast.parse((ROOT / "services/api/errors.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom)}
    assert not imported & {"sqlite3", "pymongo", "bson", "motor"}, imported


# ------------------------------------------------------------ SQLite on a full disk


async def test_a_full_disk_is_507_and_leaves_nothing_behind(
    tmpfs, settings: Settings, aiohttp_client
) -> None:
    tiny_fs = tmpfs("1m")
    db = tiny_fs / "db.sqlite3"
    settings = settings.replace(storage={"db_url": f"sqlite:///{db}"})  # content stays off the tiny disk
    client = await aiohttp_client(create_app(settings))
    alice = await sign_up(client, "alice@example.com", "alice-pw")
    filler = fill_disk(tiny_fs, leave=64 * 1024)

    created = []
    for n in range(500):
        resp = await client.post("/files", headers=alice.headers,
                                 json={"name": f"{n:04d}-" + "x" * 1000, "type": "file", "data": b64(b"hi")})
        if resp.status != 201:
            break
        created.append((await resp.json())["id"])
    assert resp.status == 507, await resp.text()
    assert await resp.json() == {"error": "Insufficient storage"}
    assert 0 < len(created) < 100  # it filled up as intended, neither at once nor never

    # Nothing left of the refused upload: no content, no record.
    assert len(os.listdir(settings.storage.folder_path)) == len(created)
    listed = []
    for page in range(10):
        batch = await (await client.get("/files", params={"page": str(page)}, headers=alice.headers)).json()
        listed += [f["id"] for f in batch]
    assert listed == created
    assert (await (await client.get("/stats")).json()) == {"users": 1, "files": len(created)}

    # Room again: the same process writes again, and the database is sound.
    filler.unlink()
    resp = await client.post("/files", headers=alice.headers, json={"name": "after", "type": "folder"})
    assert resp.status == 201
    with sqlite3.connect(db) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert check.execute("SELECT count(*) FROM files").fetchone() == (len(created) + 1,)


# ------------------------------------------------------------ SQLite: a lock held elsewhere


async def test_a_write_that_cannot_get_the_lock_in_time_is_503(settings: Settings, aiohttp_client) -> None:
    settings = settings.replace(storage={"write_timeout": 0.5})
    client = await aiohttp_client(create_app(settings))
    alice = await sign_up(client, "alice@example.com", "alice-pw")
    path = settings.storage.db_url.removeprefix("sqlite:///")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys; db = sqlite3.connect(sys.argv[1], isolation_level=None);"
         " db.execute('BEGIN IMMEDIATE'); print('locked', flush=True); sys.stdin.read()", path],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        started = time.monotonic()
        responses = await asyncio.gather(*(
            client.post("/files", headers=alice.headers, json={"name": f"d{n}", "type": "folder"})
            for n in range(4)
        ))
        assert time.monotonic() - started < 3.0
        for resp in responses:
            assert resp.status == 503
            assert resp.headers["Retry-After"] == "1"
            assert await resp.json() == {"error": "Service unavailable"}
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(30)
    resp = await client.post("/files", headers=alice.headers, json={"name": "now", "type": "folder"})
    assert resp.status == 201


# ------------------------------------------------------------ MongoDB unreachable


class ClosableProxy:
    """A TCP proxy to a database server that can be shut: its port then refuses connections."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()
        await self.server.wait_closed()


@pytest.fixture(params=["mongo", "postgres"])
async def db_behind_proxy(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, ClosableProxy]]:
    """The database of the test (MongoDB, PostgreSQL) behind a proxy the test can shut."""
    parts = urlsplit(request.getfixturevalue("mongo_db_url" if request.param == "mongo" else "pg_db_url"))
    proxy = ClosableProxy(parts.hostname or "127.0.0.1", parts.port or (27017 if request.param == "mongo" else 5432))
    await proxy.start()
    if request.param == "mongo":
        url = urlunsplit((parts.scheme, f"127.0.0.1:{proxy.port}", parts.path, "serverSelectionTimeoutMS=500", ""))
    else:
        url = urlunsplit((parts.scheme, f"{parts.username}@127.0.0.1:{proxy.port}", parts.path, "", ""))
    try:
        yield url, proxy
    finally:
        await proxy.close()


async def test_a_database_unreachable_is_503_on_every_route_that_needs_it(
    db_behind_proxy, settings: Settings, aiohttp_client
) -> None:
    url, proxy = db_behind_proxy
    client = await aiohttp_client(create_app(settings.replace(storage={"db_url": url})))
    alice = await sign_up(client, "alice@example.com", "alice-pw")  # no route has needed her record yet
    await proxy.close()

    some_id = new_id()
    calls = [
        client.post("/users", json={"email": "new@example.com", "password": "pw-1234"}),
        client.get("/connect", headers=basic("alice@example.com", "alice-pw")),
        client.get("/users/me", headers=alice.headers),
        client.post("/files", headers=alice.headers, json={"name": "d", "type": "folder"}),
        client.get("/files", headers=alice.headers),
        client.get(f"/files/{some_id}", headers=alice.headers),
        client.put(f"/files/{some_id}/publish", headers=alice.headers),
        client.put(f"/files/{some_id}/unpublish", headers=alice.headers),
        client.get(f"/files/{some_id}/data"),
        client.get("/stats"),
    ]
    started = time.monotonic()
    responses = await asyncio.gather(*calls)
    assert time.monotonic() - started < 10
    for resp in responses:
        assert resp.status == 503, (resp.method, resp.url.path, resp.status)
        assert resp.headers["Retry-After"] == "1"
        assert await resp.json() == {"error": "Service unavailable"}
    status = await client.get("/status")
    assert status.status == 200 and await status.json() == {"redis": True, "db": False}
