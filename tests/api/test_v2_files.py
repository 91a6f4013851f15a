"""v2 files: the document, one file with its path, lists (every order, cursor
pages), search, rename/move/publish, and every bad input a clear 4xx that
changes nothing. On SQLite, MongoDB and the live service."""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from collections.abc import AsyncIterator

import pytest

from shared.storage import ROOT, NewFile, Storage, new_id, open_storage

from .conftest import sign_up
from .v2_files_helpers import DOCUMENT_KEYS, RFC3339, all_pages, assert_error, call, document, file, folder

ORDERS = ["name", "-name", "updatedAt", "-updatedAt", "size", "-size"]


@pytest.fixture
async def storage(backend_settings) -> AsyncIterator[Storage]:
    """The service's own database, for what no route makes (legacy documents, chosen times)."""
    store = await open_storage(backend_settings.storage.db_url)
    yield store
    await store.close()


# ---------------------------------------------------------------- the document


async def test_the_document_and_its_path(client, alice):
    docs = await folder(client, alice, "docs")
    sub = await folder(client, alice, "sub", docs)
    file_id = await file(client, alice, "notes.txt", b"hello", sub, isPublic=True)

    body = await document(client, alice, file_id)
    assert set(body) == DOCUMENT_KEYS | {"path"}
    assert body["path"] == [{"id": docs, "name": "docs"}, {"id": sub, "name": "sub"}]
    assert (body["id"], body["name"], body["type"], body["parentId"], body["isPublic"]) == \
        (file_id, "notes.txt", "file", sub, True)
    assert body["size"] == 5
    assert body["sha256"] in (None, hashlib.sha256(b"hello").hexdigest())  # v1 may not hash
    assert RFC3339.fullmatch(body["createdAt"]) and RFC3339.fullmatch(body["updatedAt"])
    assert (body["trashedAt"], body["hasThumbnails"]) == (None, False)

    top = await document(client, alice, docs)
    assert (top["type"], top["parentId"], top["size"], top["sha256"], top["mimeType"], top["path"]) == \
        ("folder", 0, 0, None, None, [])


async def test_a_legacy_document_has_its_size_from_the_blob_and_no_hash(client, alice, storage, backend_settings):
    """A document written by the original service: no size, no hash; its blob
    is on disk (or gone: then the size is not known either)."""
    folder_path = backend_settings.storage.folder_path
    folder_path.mkdir(parents=True, exist_ok=True)
    blob = folder_path / str(uuid.uuid4())
    blob.write_bytes(b"x" * 1234)
    legacy = await storage.create_file(NewFile(alice.id, "old.bin", "file", False, ROOT, str(blob)))
    gone = await storage.create_file(NewFile(alice.id, "gone.bin", "file", False, ROOT,
                                             str(folder_path / str(uuid.uuid4()))))
    body = await document(client, alice, legacy.id)
    assert (body["size"], body["sha256"]) == (1234, None)
    assert (await document(client, alice, gone.id))["size"] is None
    listed = {item["id"]: item for item in await all_pages(client, alice, "/v2/files")}
    assert (listed[legacy.id]["size"], listed[gone.id]["size"]) == (1234, None)


@pytest.mark.parametrize("file_id", ["nope", "0" * 25, "z" * 24, "0123456789abcdef0123456"])
async def test_a_malformed_id_is_not_found(client, alice, file_id):
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/restore")):
        status, body = await call(client, method, f"/v2/files/{file_id}{path}", alice, json={"name": "x"})
        assert_error(status, body, 404, "Not found")


async def test_another_users_file_is_not_found(client, alice, bob):
    file_id = await file(client, alice, "mine.txt", isPublic=True)
    before = await document(client, alice, file_id)
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("DELETE", "?permanent=true"),
                         ("POST", "/restore")):
        status, body = await call(client, method, f"/v2/files/{file_id}{path}", bob, json={"name": "x"})
        assert_error(status, body, 404, "Not found")
    assert await document(client, alice, file_id) == before


async def test_every_route_needs_a_token(client, alice):
    file_id = await file(client, alice, "a.txt")
    for method, path in (("GET", "/v2/files"), ("GET", "/v2/files?q=a"), ("GET", f"/v2/files/{file_id}"),
                         ("PATCH", f"/v2/files/{file_id}"), ("DELETE", f"/v2/files/{file_id}"),
                         ("POST", f"/v2/files/{file_id}/restore"), ("GET", "/v2/trash"),
                         ("DELETE", "/v2/trash")):
        status, body = await call(client, method, path, json={"name": "x"})
        assert_error(status, body, 401, "Unauthorized")
        status, body = await call(client, method, path, headers={"X-Token": "nope"}, json={"name": "x"})
        assert_error(status, body, 401, "Unauthorized")
    assert (await document(client, alice, file_id))["name"] == "a.txt"


# ---------------------------------------------------------------- lists


async def test_a_folder_in_every_order_and_page_size(client, alice, storage):
    """Folders first in every order; by name (case-insensitive), updatedAt or
    size, ties by id; each page's `next` leads to the following one."""
    docs = await folder(client, alice, "docs")
    values = [("b.txt", 30, 500.0), ("A.txt", 10, 300.0), ("c.txt", 10, 100.0), ("a.TXT", 20, 300.0),
              ("Zed", 0, 200.0), ("d", 99, 400.0)]
    made = {}
    for name, size, when in values:
        record = await storage.create_file(NewFile(alice.id, name, "file", False, docs, f"/nowhere/{name}",
                                                   size=size, sha256="0" * 64, mime_type="text/plain"))
        made[record.id] = (name, size, await storage.update_file(alice.id, record.id, now=when))
    for name, when in (("beta", 50.0), ("Alpha", 60.0)):
        record = await storage.create_file(NewFile(alice.id, name, "folder", False, docs, None))
        made[record.id] = (name, 0, await storage.update_file(alice.id, record.id, now=when))
    await file(client, alice, "elsewhere.txt")  # in another folder: never listed

    def key(order: str, file_id: str):
        name, size, record = made[file_id]
        field = order.lstrip("-")
        return {"name": name.casefold(), "updatedAt": record.updated_at, "size": size}[field], file_id

    for order in ORDERS:
        groups = [[i for i in made if made[i][2].type == kind] for kind in ("folder", "file")]
        expected = [i for group in groups for i in sorted(group, key=lambda i: key(order, i),
                                                          reverse=order.startswith("-"))]
        for limit in (1, 2, 3, 8, 100):
            items = await all_pages(client, alice, "/v2/files", parentId=docs, sort=order, limit=limit)
            assert [item["id"] for item in items] == expected, (order, limit)
    default = await all_pages(client, alice, "/v2/files", parentId=docs)
    assert default == await all_pages(client, alice, "/v2/files", parentId=docs, sort="name")
    assert [item["name"] for item in default][:2] == ["Alpha", "beta"]
    assert {item["name"]: item["size"] for item in default}["d"] == 99


async def test_the_root_is_the_default_and_zero(client, alice):
    docs = await folder(client, alice, "docs")
    top = await file(client, alice, "top.txt")
    await file(client, alice, "inner.txt", parent=docs)
    for params in ({}, {"parentId": "0"}, {"parentId": ""}):
        assert [i["id"] for i in await all_pages(client, alice, "/v2/files", **params)] == [docs, top]


async def test_a_full_last_page_has_no_next(client, alice):
    for n in range(4):
        await file(client, alice, f"f{n}")
    status, body = await call(client, "GET", "/v2/files?limit=4", alice)
    assert (status, len(body["items"]), body["next"]) == (200, 4, None)
    status, body = await call(client, "GET", "/v2/files?limit=3", alice)
    assert (len(body["items"]), type(body["next"])) == (3, str)
    status, body = await call(client, "GET", "/v2/files", alice, params={"limit": 3, "cursor": body["next"]})
    assert (status, [i["name"] for i in body["items"]], body["next"]) == (200, ["f3"], None)


async def test_an_unknown_foreign_or_trashed_parent_is_not_found(client, alice, bob):
    bobs = await folder(client, bob, "bobs")
    binned = await folder(client, alice, "binned")
    assert (await call(client, "DELETE", f"/v2/files/{binned}", alice))[0] == 204
    for parent in (new_id(), bobs, binned):
        status, body = await call(client, "GET", "/v2/files", alice, params={"parentId": parent})
        assert_error(status, body, 404, "Not found")
    a_file = await file(client, alice, "a.txt")
    status, body = await call(client, "GET", "/v2/files", alice, params={"parentId": a_file})
    assert_error(status, body, 400, "Parent is not a folder")


@pytest.mark.parametrize(("query", "message"), [
    ("limit=0", "Invalid limit: expected a whole number from 1 to 1000"),
    ("limit=1001", "Invalid limit: expected a whole number from 1 to 1000"),
    ("limit=abc", "Invalid limit: expected a whole number from 1 to 1000"),
    ("limit=-1", "Invalid limit: expected a whole number from 1 to 1000"),
    ("limit=1.5", "Invalid limit: expected a whole number from 1 to 1000"),
    ("limit=%D9%A3", "Invalid limit: expected a whole number from 1 to 1000"),  # an Arabic-Indic 3
    ("limit=99999999999999999999999", "Invalid limit: expected a whole number from 1 to 1000"),
    ("limit=1&limit=2", "Invalid limit: given more than once"),
    ("sort=date", "Invalid sort: use name, -name, updatedAt, -updatedAt, size, -size"),
    ("sort=Name", "Invalid sort: use name, -name, updatedAt, -updatedAt, size, -size"),
    ("sort=+name", "Invalid sort: use name, -name, updatedAt, -updatedAt, size, -size"),
    ("parentId=abc", "Invalid parentId: expected 0 or a folder id"),
    ("parentId=null", "Invalid parentId: expected 0 or a folder id"),
    ("parentId=0&q=a", "Invalid query: give parentId or q, not both"),
    ("cursor=x", "Invalid cursor"),
    ("cursor=" + "A" * 3000, "Invalid cursor"),
    ("cursor=%00", "Invalid cursor"),
    ("q=a&cursor=not-a-cursor", "Invalid cursor"),
])
async def test_bad_list_parameters(client, alice, query, message):
    status, body = await call(client, "GET", f"/v2/files?{query}", alice)
    assert_error(status, body, 400, message)


async def test_a_cursor_works_only_for_its_own_list(client, alice):
    """Tampered, or from another folder, order, search, user or the trash: 400 Invalid cursor."""
    docs = await folder(client, alice, "docs")
    for n in range(3):
        await file(client, alice, f"r{n}.txt")
        await file(client, alice, f"d{n}.txt", parent=docs)
    await call(client, "DELETE", f"/v2/files/{await file(client, alice, 'x.txt')}", alice)
    await call(client, "DELETE", f"/v2/files/{await file(client, alice, 'y.txt')}", alice)
    cursors = {}
    for name, path, params in (("root", "/v2/files", {}), ("docs", "/v2/files", {"parentId": docs}),
                               ("size", "/v2/files", {"sort": "size"}), ("search", "/v2/files", {"q": "txt"}),
                               ("trash", "/v2/trash", {})):
        status, body = await call(client, "GET", path, alice, params={**params, "limit": 1})
        assert status == 200 and body["next"], (name, body)
        cursors[name] = (path, params, body["next"])
    for name, (path, params, cursor) in cursors.items():
        status, body = await call(client, "GET", path, alice, params={**params, "limit": 1, "cursor": cursor})
        assert status == 200, (name, body)  # its own list takes it
        for other, (other_path, other_params, _) in cursors.items():
            if other != name:
                status, body = await call(client, "GET", other_path, alice,
                                          params={**other_params, "cursor": cursor})
                assert_error(status, body, 400, "Invalid cursor")
        for index in (0, len(cursor) // 2, len(cursor) - 1):  # one character changed
            edited = cursor[:index] + ("A" if cursor[index] != "A" else "B") + cursor[index + 1:]
            status, body = await call(client, "GET", path, alice, params={**params, "cursor": edited})
            assert_error(status, body, 400, "Invalid cursor")
    eve = await sign_up(client, "eve@example.com", "eve-pw")
    path, params, cursor = cursors["root"]
    status, body = await call(client, "GET", path, eve, params={"cursor": cursor})
    assert_error(status, body, 400, "Invalid cursor")


# ---------------------------------------------------------------- search


async def test_search_across_folders_case_insensitive_live_only(client, alice, bob):
    docs = await folder(client, alice, "Docs")
    deep = await folder(client, alice, "deep", docs)
    hits = [await file(client, alice, "Report 2024.PDF"), await file(client, alice, "old-report.txt", parent=docs),
            await file(client, alice, "REPORTS", parent=deep)]
    await file(client, alice, "unrelated.txt", parent=deep)
    await file(client, bob, "report.txt")  # another user's
    binned = await file(client, alice, "report-binned.txt")
    await call(client, "DELETE", f"/v2/files/{binned}", alice)
    for text in ("report", "REPORT", "RePoRt"):
        found = await all_pages(client, alice, "/v2/files", q=text, limit=1)
        assert sorted(item["id"] for item in found) == sorted(hits), text
    assert [i["name"] for i in await all_pages(client, alice, "/v2/files", q="report", sort="name")] == \
        ["old-report.txt", "Report 2024.PDF", "REPORTS"]
    assert [i["id"] for i in await all_pages(client, alice, "/v2/files", q="doc")] == [docs]
    assert await all_pages(client, alice, "/v2/files", q="%") == []
    assert await all_pages(client, alice, "/v2/files", q="nothing like it") == []
    assert await all_pages(client, alice, "/v2/files", q="report" * 50) == []  # longer than any name


async def test_search_matches_whatever_normal_form_is_typed(client, alice):
    cafe = await file(client, alice, "Café.txt")
    assert [i["id"] for i in await all_pages(client, alice, "/v2/files", q="cafe\u0301")] == [cafe]
    assert [i["id"] for i in await all_pages(client, alice, "/v2/files", q="CAFÉ")] == [cafe]


# ---------------------------------------------------------------- rename, move, publish


async def test_rename_move_and_publish(client, alice):
    docs = await folder(client, alice, "docs")
    file_id = await file(client, alice, "old.txt", b"12345")
    before = await document(client, alice, file_id)

    status, body = await call(client, "PATCH", f"/v2/files/{file_id}", alice, json={"name": "new.txt"})
    assert status == 200
    assert set(body) == DOCUMENT_KEYS
    assert (body["name"], body["parentId"], body["isPublic"], body["size"]) == ("new.txt", 0, False, 5)
    assert body["createdAt"] == before["createdAt"] and body["updatedAt"] >= before["updatedAt"]

    status, body = await call(client, "PATCH", f"/v2/files/{file_id}", alice,
                              json={"parentId": docs, "isPublic": True})
    assert (status, body["parentId"], body["isPublic"], body["name"]) == (200, docs, True, "new.txt")
    assert (await document(client, alice, file_id))["path"] == [{"id": docs, "name": "docs"}]
    assert [i["id"] for i in await all_pages(client, alice, "/v2/files", parentId=docs)] == [file_id]
    assert (await client.get(f"/files/{file_id}/data")).status == 200  # public now

    for root in (0, "0"):
        status, body = await call(client, "PATCH", f"/v2/files/{file_id}", alice,
                                  json={"parentId": root, "isPublic": False})
        assert (status, body["parentId"], body["isPublic"]) == (200, 0, False)
    assert (await client.get(f"/files/{file_id}/data")).status == 404


async def test_a_name_is_stored_nfc(client, alice):
    file_id = await file(client, alice, "x")
    status, body = await call(client, "PATCH", f"/v2/files/{file_id}", alice, json={"name": "Cafe\u0301"})
    assert (status, body["name"]) == (200, unicodedata.normalize("NFC", "Cafe\u0301"))


async def test_moves_refused_change_nothing(client, alice, bob):
    a = await folder(client, alice, "a")
    b = await folder(client, alice, "b", a)
    c = await folder(client, alice, "c", b)
    a_file = await file(client, alice, "f.txt", parent=a)
    bobs = await folder(client, bob, "bobs")
    binned = await folder(client, alice, "binned")
    await call(client, "DELETE", f"/v2/files/{binned}", alice)
    before = {i: await document(client, alice, i) for i in (a, b, c, a_file)}
    refusals = [(a, {"parentId": a}, "Cannot move a folder into itself"),
                (a, {"parentId": c}, "Cannot move a folder into itself"),
                (b, {"parentId": c, "name": "renamed"}, "Cannot move a folder into itself"),
                (c, {"parentId": new_id()}, "Parent not found"),
                (c, {"parentId": bobs, "isPublic": True}, "Parent not found"),
                (c, {"parentId": binned}, "Parent not found"),
                (c, {"parentId": "not-an-id"}, "Parent not found"),
                (c, {"parentId": a_file}, "Parent is not a folder"),
                (a_file, {"parentId": a_file}, "Parent is not a folder")]
    for file_id, patch, message in refusals:
        status, body = await call(client, "PATCH", f"/v2/files/{file_id}", alice, json=patch)
        assert_error(status, body, 400, message)
    assert {i: await document(client, alice, i) for i in (a, b, c, a_file)} == before


@pytest.mark.parametrize(("payload", "message"), [
    (b"{", "Invalid JSON body: unexpected end of data: line 1 column 2 (char 1)"),
    (b"[]", "Invalid JSON body: expected an object"),
    (b'"name"', "Invalid JSON body: expected an object"),
    (b"{}", "Nothing to update: give name, parentId, isPublic"),
    (b"", "Nothing to update: give name, parentId, isPublic"),
    (b'{"Name": "x"}', "Unknown field: Name (use name, parentId, isPublic)"),
    (b'{"name": "x", "type": "folder"}', "Unknown field: type (use name, parentId, isPublic)"),
    (b'{"name": null}', "Invalid name"),
    (b'{"name": 5}', "Invalid name"),
    (b'{"name": ["a"]}', "Invalid name"),
    (b'{"name": ""}', "Invalid name"),
    (b'{"name": ".."}', "Invalid name"),
    (b'{"name": "a/b"}', "Invalid name"),
    (b'{"name": "a\\\\b"}', "Invalid name"),
    (b'{"name": "nul\\u0000"}', "Invalid name"),
    (b'{"name": "line\\nbreak"}', "Invalid name"),
    (b'{"name": "' + b"x" * 256 + b'"}', "Invalid name"),
    (b'{"isPublic": "yes"}', "Invalid isPublic: expected true or false"),
    (b'{"isPublic": 1}', "Invalid isPublic: expected true or false"),
    (b'{"isPublic": null}', "Invalid isPublic: expected true or false"),
    (b'{"parentId": null}', "Invalid parentId: expected 0 or a folder id"),
    (b'{"parentId": false}', "Invalid parentId: expected 0 or a folder id"),
    (b'{"parentId": 1}', "Invalid parentId: expected 0 or a folder id"),
    (b'{"parentId": 0.0, "name": "ok"}', "Invalid parentId: expected 0 or a folder id"),
    (b'{"parentId": {}}', "Invalid parentId: expected 0 or a folder id"),
    (b'{"name": "\\ud800"}', "Invalid JSON body: a string holds a lone surrogate (\\ud800-\\udfff), not a character"),
    (b"\xff", "Invalid JSON body: not UTF-8"),
])
async def test_bad_patches_change_nothing(client, alice, payload, message):
    file_id = await file(client, alice, "keep.txt")
    before = await document(client, alice, file_id)
    status, body = await call(client, "PATCH", f"/v2/files/{file_id}", alice, data=payload,
                              headers={"Content-Type": "application/json"})
    assert_error(status, body, 400, message)
    assert await document(client, alice, file_id) == before


async def test_a_trashed_item_cannot_be_changed(client, alice):
    file_id = await file(client, alice, "t.txt")
    await call(client, "DELETE", f"/v2/files/{file_id}", alice)
    status, body = await call(client, "PATCH", f"/v2/files/{file_id}", alice, json={"name": "x"})
    assert_error(status, body, 404, "Not found")
    assert (await document(client, alice, file_id))["name"] == "t.txt"

