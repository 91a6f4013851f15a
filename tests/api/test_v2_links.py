"""The owner's side of share links: POST/GET /v2/files/:id/links, DELETE
/v2/links/:id (api-v2.md, "Share links"). The public side is test_shares.py."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from datetime import datetime

import pytest

from shared.storage import Storage

from .conftest import Account, sign_up
from .share_links import new_file, new_link, trash

DAY = 86400
TOKEN_URL = re.compile(r"/s/([A-Za-z0-9_-]{22})")


def epoch(text: str) -> float:
    assert text.endswith("Z")
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def test_a_new_link_and_its_token_stored_only_as_a_hash(client, alice: Account, storage: Storage,
                                                              backend_settings):
    record = await new_file(client, alice)
    before = time.time()
    resp = await client.post(f"/v2/files/{record['id']}/links", headers=alice.headers)  # no body: defaults
    assert resp.status == 201
    body = await resp.json()
    assert set(body) == {"id", "url", "fileId", "expiresAt", "maxDownloads", "downloads", "hasPassword",
                         "createdAt", "revokedAt", "active"}
    assert body["fileId"] == record["id"]
    assert (body["maxDownloads"], body["downloads"], body["hasPassword"], body["revokedAt"], body["active"]) \
        == (None, 0, False, None, True)
    token = TOKEN_URL.fullmatch(body["url"]).group(1)
    assert before - 1 <= epoch(body["createdAt"]) <= time.time() + 1
    assert epoch(body["expiresAt"]) - epoch(body["createdAt"]) == pytest.approx(7 * DAY, abs=0.01)

    stored = await storage.link_by_token_hash(hashlib.sha256(token.encode()).hexdigest())
    assert stored is not None and stored.id == body["id"] and stored.user_id == alice.id
    assert token not in repr(stored)
    if backend_settings.storage.db_url.startswith("sqlite:///"):
        path = backend_settings.storage.db_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as db:
            db.execute("PRAGMA wal_checkpoint(FULL)")
        for name in (path, path + "-wal"):
            try:
                with open(name, "rb") as fh:
                    assert token.encode() not in fh.read()
            except FileNotFoundError:
                pass

    # Each link its own token.
    other = await new_link(client, alice, record["id"])
    assert other["url"] != body["url"] and other["id"] != body["id"]


async def test_terms(client, alice: Account, storage: Storage):
    record = await new_file(client, alice)
    body = await new_link(client, alice, record["id"], expiresIn=60, password="open sesame", maxDownloads=3)
    assert epoch(body["expiresAt"]) - epoch(body["createdAt"]) == pytest.approx(60, abs=0.01)
    assert (body["hasPassword"], body["maxDownloads"], body["downloads"]) == (True, 3, 0)
    stored = await storage.link_of_user(alice.id, body["id"])
    assert stored.password_hash.startswith("$argon2id$") and "open sesame" not in stored.password_hash
    longest = await new_link(client, alice, record["id"], expiresIn=30 * DAY, password="é" * 1024,
                             maxDownloads=None)
    assert epoch(longest["expiresAt"]) - epoch(longest["createdAt"]) == pytest.approx(30 * DAY, abs=0.01)
    folder = await new_file(client, alice, "photos", type_="folder")
    assert (await new_link(client, alice, folder["id"]))["fileId"] == folder["id"]


@pytest.mark.parametrize(("terms", "message"), [
    ({"expiresIn": 0}, "Invalid expiresIn: a whole number of seconds from 1 to 2592000"),
    ({"expiresIn": -5}, "Invalid expiresIn"),
    ({"expiresIn": 30 * DAY + 1}, "Invalid expiresIn"),
    ({"expiresIn": 1.5}, "Invalid expiresIn"),
    ({"expiresIn": "60"}, "Invalid expiresIn"),
    ({"expiresIn": True}, "Invalid expiresIn"),
    ({"expiresIn": 10**40}, "Invalid expiresIn"),
    ({"password": ""}, "Invalid password: a string of 1 to 1024 characters"),
    ({"password": "x" * 1025}, "Invalid password"),
    ({"password": 1234}, "Invalid password"),
    ({"password": ["x"]}, "Invalid password"),
    ({"maxDownloads": 0}, "Invalid maxDownloads: a whole number from 1, or null"),
    ({"maxDownloads": -1}, "Invalid maxDownloads"),
    ({"maxDownloads": "3"}, "Invalid maxDownloads"),
    ({"maxDownloads": 2.5}, "Invalid maxDownloads"),
    ({"maxDownloads": False}, "Invalid maxDownloads"),
    ({"expires_in": 60}, "Unknown field: expires_in (use expiresIn, password, maxDownloads)"),
])
async def test_bad_terms_are_400_and_make_nothing(client, alice: Account, storage: Storage, terms, message):
    record = await new_file(client, alice)
    resp = await client.post(f"/v2/files/{record['id']}/links", json=terms, headers=alice.headers)
    assert resp.status == 400
    body = await resp.json()
    assert body["code"] == "invalid" and body["error"].startswith(message), body
    assert await storage.links_of_file(alice.id, record["id"]) == []


@pytest.mark.parametrize("raw", [b"{", b"[]", b'"x"', b"null", b"\xff", b'{"expiresIn": 60', b'{"a": "\\ud800"}'])
async def test_bad_json_is_400(client, alice: Account, storage: Storage, raw: bytes):
    record = await new_file(client, alice)
    resp = await client.post(f"/v2/files/{record['id']}/links", data=raw,
                             headers={**alice.headers, "Content-Type": "application/json"})
    assert resp.status == 400
    assert (await resp.json())["code"] == "invalid"
    assert await storage.links_of_file(alice.id, record["id"]) == []


async def test_only_the_owner_of_a_live_file_makes_links(client, alice: Account, bob: Account, storage: Storage):
    record = await new_file(client, alice)
    resp = await client.post(f"/v2/files/{record['id']}/links", json={})
    assert (resp.status, (await resp.json())["code"]) == (401, "unauthorized")
    for file_id in (record["id"], "0" * 24, "nope", "x" * 300):
        resp = await client.post(f"/v2/files/{file_id}/links", json={},
                                 headers=bob.headers if file_id == record["id"] else alice.headers)
        assert (resp.status, (await resp.json())["code"]) == (404, "not_found"), file_id
    await trash(client, alice, record["id"])
    resp = await client.post(f"/v2/files/{record['id']}/links", json={}, headers=alice.headers)
    assert resp.status == 404
    assert await storage.links_of_file(alice.id, record["id"]) == []


async def test_a_files_links_newest_first_without_tokens(client, alice: Account, bob: Account):
    record = await new_file(client, alice)
    other = await new_file(client, alice, "other.txt")
    first = await new_link(client, alice, record["id"])
    second = await new_link(client, alice, record["id"], password="pw", maxDownloads=2)
    await new_link(client, alice, other["id"])
    resp = await client.get(f"/v2/files/{record['id']}/links", headers=alice.headers)
    assert resp.status == 200
    body = await resp.json()
    assert body["next"] is None
    assert [item["id"] for item in body["items"]] == [second["id"], first["id"]]
    for item, made in zip(body["items"], (second, first), strict=True):
        assert item == {k: v for k, v in made.items() if k != "url"}
        assert "url" not in item and "token" not in str(item)
    resp = await client.get(f"/v2/files/{record['id']}/links", headers=bob.headers)
    assert resp.status == 404
    resp = await client.get(f"/v2/files/{record['id']}/links")
    assert resp.status == 401


async def test_revoked_at_once(client, alice: Account, bob: Account):
    record = await new_file(client, alice, data=b"secret bytes")
    link = await new_link(client, alice, record["id"])
    resp = await client.get(link["url"])
    assert resp.status == 200 and await resp.read() == b"secret bytes"

    resp = await client.delete(f"/v2/links/{link['id']}", headers=bob.headers)
    assert resp.status == 404  # not bob's
    assert (await client.get(link["url"])).status == 200
    resp = await client.delete(f"/v2/links/{link['id']}", headers=alice.headers)
    assert resp.status == 204
    resp = await client.get(link["url"])
    assert resp.status == 410
    assert await resp.json() == {"error": "Link expired", "code": "link_expired"}

    listed = (await (await client.get(f"/v2/files/{record['id']}/links", headers=alice.headers)).json())["items"]
    assert listed[0]["revokedAt"] is not None and listed[0]["active"] is False
    for link_id in ("0" * 24, "bad"):
        assert (await client.delete(f"/v2/links/{link_id}", headers=alice.headers)).status == 404
    assert (await client.delete(f"/v2/links/{link['id']}")).status == 401


async def test_a_trashed_files_links_are_not_found_until_it_is_back(client, alice: Account):
    record = await new_file(client, alice)
    link = await new_link(client, alice, record["id"])
    await trash(client, alice, record["id"])
    resp = await client.get(f"/v2/files/{record['id']}/links", headers=alice.headers)
    assert resp.status == 404
    assert (await client.post(f"/v2/files/{record['id']}/restore", headers=alice.headers)).status == 200
    resp = await client.get(f"/v2/files/{record['id']}/links", headers=alice.headers)
    [item] = (await resp.json())["items"]
    assert item["id"] == link["id"] and item["active"] is True


async def test_another_account_cannot_list_or_revoke(client, alice: Account):
    record = await new_file(client, alice)
    link = await new_link(client, alice, record["id"])
    carol = await sign_up(client, "carol@example.com", "carol-pw")
    assert (await client.get(f"/v2/files/{record['id']}/links", headers=carol.headers)).status == 404
    assert (await client.delete(f"/v2/links/{link['id']}", headers=carol.headers)).status == 404
    assert (await client.get(link["url"])).status == 200
