"""The `storage` fixture: every contract test runs on each backend.

`sqlite` always runs (a temp file). `mongo` runs against the server named by
FM_TEST_MONGO_URL (CI starts wiremongo and sets it; set it to a real MongoDB to
test against that); each test gets a fresh database, dropped afterwards. Without
the variable the mongo cases are skipped, saying why: no MongoDB can be assumed
on a developer's machine, and the tests never start a server themselves.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from pymongo import AsyncMongoClient

from shared.storage import Storage, open_storage

MONGO_ENV = "FM_TEST_MONGO_URL"
NO_MONGO = (
    f"MongoDB backend NOT tested: {MONGO_ENV} is not set "
    "(CI sets it to a wiremongo server; set it to a MongoDB URL to run these)"
)


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name`, keeping hosts and options (replica set, srv)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@pytest.fixture
async def mongo_db_url() -> AsyncIterator[str]:
    """A MongoDB URL naming a fresh, unique database, dropped after the test."""
    base = os.environ.get(MONGO_ENV)
    if not base:
        pytest.skip(NO_MONGO)
    name = f"fm_test_{uuid.uuid4().hex[:16]}"
    url = with_database(base, name)
    yield url
    client: AsyncMongoClient = AsyncMongoClient(url, serverSelectionTimeoutMS=5000)
    try:
        await client.drop_database(name)
    finally:
        await client.close()


@pytest.fixture
async def raw_db(mongo_db_url: str) -> AsyncIterator:
    """The test's database through pymongo directly, as the original's tools see it."""
    client: AsyncMongoClient = AsyncMongoClient(mongo_db_url, serverSelectionTimeoutMS=5000)
    try:
        yield client.get_default_database()
    finally:
        await client.close()


@pytest.fixture
async def mongo_storage(mongo_db_url: str) -> AsyncIterator[Storage]:
    storage = await open_storage(mongo_db_url)
    try:
        yield storage
    finally:
        await storage.close()


@pytest.fixture
async def sqlite_storage(tmp_path: Path) -> AsyncIterator[Storage]:
    storage = await open_storage(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        yield storage
    finally:
        await storage.close()


@pytest.fixture(params=["sqlite", "mongo"])
def storage(request: pytest.FixtureRequest) -> Storage:
    """Each backend in turn (mongo is skipped, with the reason, without FM_TEST_MONGO_URL)."""
    return request.getfixturevalue(f"{request.param}_storage")
