"""Helpers of the v2 files tests: a request and its JSON, items made through
v1 (the v2 upload routes are tested on their own), every page of a list."""

from __future__ import annotations

import base64
import re
from typing import Any

from .conftest import Account, upload

RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
DOCUMENT_KEYS = {"id", "name", "type", "parentId", "isPublic", "size", "mimeType", "sha256", "createdAt",
                 "updatedAt", "trashedAt", "hasThumbnails"}


async def call(client: Any, method: str, path: str, account: Account | None = None, **kwargs: Any
               ) -> tuple[int, Any]:
    """(status, JSON body or None)."""
    headers = {**(account.headers if account else {}), **kwargs.pop("headers", {})}
    async with client.request(method, path, headers=headers, **kwargs) as resp:
        body = await resp.read()
        return resp.status, (await resp.json() if body else None)


async def folder(client: Any, account: Account, name: str, parent: str | int = 0) -> str:
    return (await upload(client, account, name=name, type="folder", parentId=parent))["id"]


async def file(client: Any, account: Account, name: str, content: bytes = b"hi", parent: str | int = 0,
               **extra: Any) -> str:
    data = base64.b64encode(content).decode()
    return (await upload(client, account, name=name, type="file", data=data, parentId=parent, **extra))["id"]


async def document(client: Any, account: Account, file_id: str) -> dict:
    status, body = await call(client, "GET", f"/v2/files/{file_id}", account)
    assert status == 200, body
    return body


async def all_pages(client: Any, account: Account, path: str, **params: Any) -> list[dict]:
    """Every item of a v2 list, following `next` to the end."""
    items: list[dict] = []
    cursor = None
    for _ in range(10_000):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        status, body = await call(client, "GET", path, account, params=query)
        assert status == 200, body
        assert set(body) == {"items", "next"}
        limit = int(params.get("limit", 100))
        assert len(body["items"]) <= limit
        items += body["items"]
        cursor = body["next"]
        if cursor is None:
            return items
        assert len(body["items"]) == limit  # a page is short only when it is the last
    raise AssertionError("paging never ended")


def assert_error(status: int, body: Any, expected_status: int, message: str, code: str | None = None) -> None:
    assert status == expected_status, body
    expected = {"error": message, "code": code or {400: "invalid", 404: "not_found", 401: "unauthorized"}[
        expected_status]}
    assert body == expected
