"""The trash: delete, list (newest first, cursor pages), restore, delete for
good, empty; what a trashed item still answers (GET /v2/files/:id) and what it
no longer does (lists, search, every v1 route, public reads). Purged blobs are
left to a purge job, whose payload is checked here (the worker's side is
tests/worker/test_purge.py). On SQLite, MongoDB and the live service."""

from __future__ import annotations

import json

import pytest
import redis.asyncio as aioredis

from shared.jobs import PURGE, stream_of

from .conftest import b64, upload
from .uploads import folder_entries
from .v2_files_helpers import all_pages, assert_error, call, document, file, folder


async def purge_jobs(settings) -> list[list[str]]:
    """The blob names of every purge job enqueued so far (no worker runs here)."""
    async with aioredis.from_url(settings.redis.url) as r:
        entries = await r.xrange(stream_of(PURGE))
    return [json.loads(fields[b"data"])["blobs"] for _, fields in entries]


def blob_names(settings) -> set[str]:
    return set(folder_entries(settings))


async def test_trash_and_restore_a_file(client, alice):
    keep = await file(client, alice, "keep.txt")
    file_id = await file(client, alice, "gone.txt", b"bye", isPublic=True)
    status, body = await call(client, "DELETE", f"/v2/files/{file_id}", alice)
    assert (status, body) == (204, None)

    trashed = await document(client, alice, file_id)  # still answers, as trashed
    assert trashed["trashedAt"] is not None and trashed["trashedAt"] >= trashed["updatedAt"]
    assert [i["id"] for i in await all_pages(client, alice, "/v2/files")] == [keep]
    assert await all_pages(client, alice, "/v2/files", q="gone") == []
    in_trash = await all_pages(client, alice, "/v2/trash")
    assert [i["id"] for i in in_trash] == [file_id]
    assert in_trash[0] == {k: v for k, v in trashed.items() if k != "path"}

    status, body = await call(client, "POST", f"/v2/files/{file_id}/restore", alice)
    assert status == 200
    assert (body["id"], body["trashedAt"], body["parentId"], body["isPublic"]) == (file_id, None, 0, True)
    assert await all_pages(client, alice, "/v2/trash") == []
    assert sorted(i["id"] for i in await all_pages(client, alice, "/v2/files")) == sorted([keep, file_id])
    assert (await client.get(f"/files/{file_id}/data")).status == 200  # public again


async def test_a_trashed_folder_takes_everything_below_and_brings_it_back(client, alice):
    docs = await folder(client, alice, "docs")
    sub = await folder(client, alice, "sub", docs)
    inner = await file(client, alice, "inner.txt", parent=sub)
    await call(client, "DELETE", f"/v2/files/{docs}", alice)
    assert [i["id"] for i in await all_pages(client, alice, "/v2/trash")] == [docs]  # the top only
    for item in (docs, sub, inner):
        assert (await document(client, alice, item))["trashedAt"] is not None
    assert (await document(client, alice, inner))["path"] == [{"id": docs, "name": "docs"}, {"id": sub, "name": "sub"}]
    assert await all_pages(client, alice, "/v2/files", q="inner") == []
    status, body = await call(client, "GET", "/v2/files", alice, params={"parentId": sub})
    assert_error(status, body, 404, "Not found")
    # Only the top of a deletion is restored (its content with it).
    status, body = await call(client, "POST", f"/v2/files/{inner}/restore", alice)
    assert_error(status, body, 404, "Not found")
    assert (await call(client, "POST", f"/v2/files/{docs}/restore", alice))[0] == 200
    assert [i["id"] for i in await all_pages(client, alice, "/v2/files", parentId=sub)] == [inner]
    assert (await document(client, alice, inner))["path"] == [{"id": docs, "name": "docs"}, {"id": sub, "name": "sub"}]


async def test_restored_to_the_root_when_its_folder_is_gone(client, alice):
    docs = await folder(client, alice, "docs")
    note = await file(client, alice, "note.txt", parent=docs)
    await call(client, "DELETE", f"/v2/files/{note}", alice)
    await call(client, "DELETE", f"/v2/files/{docs}", alice)
    status, body = await call(client, "POST", f"/v2/files/{note}/restore", alice)
    assert (status, body["parentId"]) == (200, 0)
    assert (await document(client, alice, note))["path"] == []


async def test_the_trash_newest_first_in_pages(client, alice, bob):
    made = []
    for n in range(7):
        made.append(await file(client, alice, f"t{n}.txt"))
        await call(client, "DELETE", f"/v2/files/{made[-1]}", alice)
    await call(client, "DELETE", f"/v2/files/{await file(client, bob, 'bobs.txt')}", bob)
    listed = await all_pages(client, alice, "/v2/trash")
    assert sorted(i["id"] for i in listed) == sorted(made)
    stamps = [(i["trashedAt"], i["id"]) for i in listed]
    assert stamps == sorted(stamps, reverse=True)
    for limit in (1, 2, 3, 7):
        assert await all_pages(client, alice, "/v2/trash", limit=limit) == listed
    assert [i["name"] for i in await all_pages(client, bob, "/v2/trash")] == ["bobs.txt"]


@pytest.mark.parametrize(("query", "message"), [
    ("limit=0", "Invalid limit: expected a whole number from 1 to 1000"),
    ("limit=1001", "Invalid limit: expected a whole number from 1 to 1000"),
    ("limit=abc", "Invalid limit: expected a whole number from 1 to 1000"),
    ("cursor=abc", "Invalid cursor"),
    ("cursor=a&cursor=b", "Invalid cursor: given more than once"),
])
async def test_bad_trash_parameters(client, alice, query, message):
    status, body = await call(client, "GET", f"/v2/trash?{query}", alice)
    assert_error(status, body, 400, message)


async def test_delete_for_good_removes_the_document_and_enqueues_its_blobs(client, alice, backend_settings):
    docs = await folder(client, alice, "docs")
    inner = await file(client, alice, "inner.txt", b"in", parent=docs)
    loose = await file(client, alice, "loose.txt", b"loose")
    keep = await file(client, alice, "keep.txt")
    blobs = blob_names(backend_settings)
    assert len(blobs) == 3
    await call(client, "DELETE", f"/v2/files/{loose}", alice)  # from the trash...
    status, _ = await call(client, "DELETE", f"/v2/files/{loose}?permanent=true", alice)
    assert status == 204
    status, _ = await call(client, "DELETE", f"/v2/files/{docs}?permanent=1", alice)  # ...or live
    assert status == 204
    for gone in (docs, inner, loose):
        status, body = await call(client, "GET", f"/v2/files/{gone}", alice)
        assert_error(status, body, 404, "Not found")
    assert await all_pages(client, alice, "/v2/trash") == []
    assert [i["id"] for i in await all_pages(client, alice, "/v2/files")] == [keep]
    jobs = await purge_jobs(backend_settings)
    assert len(jobs) == 2 and all(len(blobs) == 1 for blobs in jobs)
    keep_blob = blobs - {name for names in jobs for name in names}
    assert len(keep_blob) == 1  # the two purged files' blobs, never the kept one's
    status, body = await call(client, "DELETE", f"/v2/files/{loose}?permanent=true", alice)
    assert_error(status, body, 404, "Not found")


async def test_empty_the_trash(client, alice, bob, backend_settings):
    box = await folder(client, alice, "box")
    await file(client, alice, "in-box.txt", parent=box)
    loose = await file(client, alice, "loose.txt")
    keep = await file(client, alice, "keep.txt")
    bobs = await file(client, bob, "bobs.txt")
    for account, item in ((alice, box), (alice, loose), (bob, bobs)):
        await call(client, "DELETE", f"/v2/files/{item}", account)
    status, body = await call(client, "DELETE", "/v2/trash", alice)
    assert (status, body) == (204, None)
    assert await all_pages(client, alice, "/v2/trash") == []
    assert [i["id"] for i in await all_pages(client, alice, "/v2/files")] == [keep]
    assert [i["id"] for i in await all_pages(client, bob, "/v2/trash")] == [bobs]
    (names,) = await purge_jobs(backend_settings)
    assert len(names) == 2
    assert (await call(client, "DELETE", "/v2/trash", alice))[0] == 204  # empty already: fine
    assert len(await purge_jobs(backend_settings)) == 1  # nothing more to remove


@pytest.mark.parametrize("value", ["yes", "TRUE", "2", "true&permanent=false"])
async def test_a_bad_permanent_changes_nothing(client, alice, value):
    file_id = await file(client, alice, "a.txt")
    status, body = await call(client, "DELETE", f"/v2/files/{file_id}?permanent={value}", alice)
    message = "Invalid permanent: given more than once" if "&" in value else "Invalid permanent: use true or false"
    assert_error(status, body, 400, message)
    assert (await document(client, alice, file_id))["trashedAt"] is None


async def test_trash_twice_and_restore_a_live_item_are_not_found(client, alice):
    file_id = await file(client, alice, "a.txt")
    status, body = await call(client, "POST", f"/v2/files/{file_id}/restore", alice)
    assert_error(status, body, 404, "Not found")
    assert (await call(client, "DELETE", f"/v2/files/{file_id}", alice))[0] == 204
    trashed = await document(client, alice, file_id)
    status, body = await call(client, "DELETE", f"/v2/files/{file_id}", alice)
    assert_error(status, body, 404, "Not found")
    assert await document(client, alice, file_id) == trashed


# ---------------------------------------------------------------- v1 sees no trashed item


async def test_v1_hides_trashed_items(client, alice):
    docs = await upload(client, alice, name="docs", type="folder")
    public = await upload(client, alice, name="pub.txt", type="file", data=b64(b"public"), isPublic=True,
                          parentId=docs["id"])
    loose = await upload(client, alice, name="loose.txt", type="file", data=b64(b"x"))
    keep = await upload(client, alice, name="keep.txt", type="file", data=b64(b"k"))
    await call(client, "DELETE", f"/v2/files/{docs['id']}", alice)
    await call(client, "DELETE", f"/v2/files/{loose['id']}", alice)

    for item in (docs, public, loose):
        for path in (f"/files/{item['id']}", f"/files/{item['id']}/data"):
            resp = await client.get(path, headers=alice.headers)
            assert (resp.status, await resp.json()) == (404, {"error": "Not found"}), path
        for action in ("publish", "unpublish"):
            resp = await client.put(f"/files/{item['id']}/{action}", headers=alice.headers)
            assert (resp.status, await resp.json()) == (404, {"error": "Not found"}), action
    resp = await client.get(f"/files/{public['id']}/data")  # public, but trashed
    assert (resp.status, await resp.json()) == (404, {"error": "Not found"})
    resp = await client.get("/files", headers=alice.headers)
    assert await resp.json() == [keep]
    resp = await client.get("/files", headers=alice.headers, params={"parentId": docs["id"]})
    assert await resp.json() == []
    # A v1 upload into a trashed folder is refused as into a missing one.
    resp = await client.post("/files", headers=alice.headers,
                             json={"name": "late.txt", "type": "file", "data": b64(b"x"), "parentId": docs["id"]})
    assert (resp.status, await resp.json()) == (400, {"error": "Parent not found"})
    # Restored, all of it answers again, unchanged.
    await call(client, "POST", f"/v2/files/{docs['id']}/restore", alice)
    resp = await client.get(f"/files/{public['id']}", headers=alice.headers)
    assert (resp.status, await resp.json()) == (200, public)
    resp = await client.get(f"/files/{public['id']}/data")
    assert (resp.status, await resp.read()) == (200, b"public")
