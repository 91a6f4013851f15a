"""The `storage` fixture: every contract test runs on each backend.

`sqlite` always runs (a temp file). `postgres` always runs too, on a database
of its own made and dropped by `pg_db_url` (tests/engines/postgres.py), and
fails when no PostgreSQL answers. `mongo` runs against the server named by
FM_TEST_MONGO_URL, through `mongo_db_url` (tests/conftest.py): a fresh database
per test, dropped afterwards, and a skip saying why when no server is named.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from shared.storage import Storage, open_storage


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


@pytest.fixture
async def postgres_storage(pg_db_url: str) -> AsyncIterator[Storage]:
    storage = await open_storage(pg_db_url)
    try:
        yield storage
    finally:
        await storage.close()


@pytest.fixture(params=["sqlite", "postgres", "mongo"])
def storage(request: pytest.FixtureRequest) -> Storage:
    """Each backend in turn (mongo is skipped, with the reason, without FM_TEST_MONGO_URL)."""
    return request.getfixturevalue(f"{request.param}_storage")
