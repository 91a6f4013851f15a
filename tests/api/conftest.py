"""API fixtures: the real app (create_app) on a real port, over SQLite and,
when FM_TEST_MONGO_URL names a server, over MongoDB too."""

from __future__ import annotations

import base64
import os
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import pytest
from aiohttp.test_utils import TestClient

from services.api.app import create_app
from shared.config import Settings

MONGO_URL = os.environ.get("FM_TEST_MONGO_URL", "")


def mongo_database_url(base: str, database: str) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path="/" + database))


@pytest.fixture(params=["sqlite", "mongo"])
def backend_settings(request: pytest.FixtureRequest, settings: Settings):
    if request.param == "sqlite":
        yield settings
        return
    if not MONGO_URL:
        pytest.skip("MongoDB backend not exercised: FM_TEST_MONGO_URL is not set "
                    "(.ci/run starts wiremongo and sets it)")
    database = f"fm_test_{uuid.uuid4().hex[:12]}"
    yield settings.replace(storage={"db_url": mongo_database_url(MONGO_URL, database)})
    from pymongo import MongoClient

    with MongoClient(MONGO_URL, serverSelectionTimeoutMS=2000) as client:
        client.drop_database(database)


@pytest.fixture
async def client(aiohttp_client, backend_settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(backend_settings))


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
