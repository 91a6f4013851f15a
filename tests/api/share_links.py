"""Helpers of the share-link tests (test_v2_links.py, test_shares.py)."""

from __future__ import annotations

import hashlib
import secrets
import time

from aiohttp.test_utils import TestClient

from shared.storage import ShareLink, Storage, new_id

from .conftest import Account, b64, upload

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
PAGE_CSP = ("default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'")


async def new_file(client: TestClient, account: Account, name: str = "report.txt", data: bytes = b"hello world",
                   type_: str = "file", parent_id: str | int = 0) -> dict:
    body: dict = {"name": name, "type": type_, "parentId": parent_id}
    if type_ != "folder":
        body["data"] = b64(data)
    return await upload(client, account, **body)


async def new_link(client: TestClient, account: Account, file_id: str, **terms) -> dict:
    resp = await client.post(f"/v2/files/{file_id}/links", json=terms, headers=account.headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def stored_link(storage: Storage, account: Account, file_id: str, **fields) -> str:
    """A link made through the storage (an expiry in the past, say); its URL."""
    token = secrets.token_urlsafe(16)
    now = time.time()
    link = ShareLink(id=new_id(), user_id=account.id, file_id=file_id,
                     token_hash=hashlib.sha256(token.encode()).hexdigest(),
                     created_at=now, expires_at=fields.pop("expires_at", now + 3600), **fields)
    await storage.create_link(link)
    return f"/s/{token}"


def forget_cookies(client) -> None:
    """The client's cookie jar emptied: cookies are sent by hand in these tests
    (aiohttp's session keeps none from an IP address; the test client keeps all)."""
    session = client.session if isinstance(client, TestClient) else client
    session.cookie_jar.clear()


async def trash(client: TestClient, account: Account, file_id: str, permanent: bool = False) -> None:
    resp = await client.delete(f"/v2/files/{file_id}" + ("?permanent=true" if permanent else ""),
                               headers=account.headers)
    assert resp.status == 204, await resp.text()
