"""GET and PUT /v2/files/:id/content: served as v1's /data is (the same
code: Range, ETag, 304, the safe-serving headers) with a charset on text;
replaced by a streamed body with a new hash, the old blob and its thumbnails
removed and the thumbnails remade by the worker; a failed replacement
changes nothing. The worker's handler runs here on what the API stored,
hostile images included."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from services.worker.handlers import JobRejected, JobSkipped, ThumbnailsHandler
from shared.jobs import thumbnails_job
from shared.open_blobs import open_blob_store
from tests.conftest import until

from .test_safe_serving import CSP, parse_disposition
from .uploads import (
    big,
    boundary_body,
    file_part,
    folder_entries,
    form,
    image_bytes,
    nothing_left,
    raw_request,
    server_port,
    sha256,
    thumbnail_jobs,
)

MAX_PIXELS = 50_000_000


async def upload(client, account, name: str, content: bytes, **fields) -> dict:
    resp = await client.post("/v2/files", data=form((name, content), **fields), headers=account.headers)
    assert resp.status == 201, await resp.text()
    return (await resp.json())["items"][0]


async def run_thumbnails(storage, account, doc, settings) -> None:
    """What the job worker does with the thumbnails job of `doc`."""
    with ThreadPoolExecutor(1) as pool:
        async with open_blob_store(settings) as blobs:
            await ThumbnailsHandler(storage, pool, MAX_PIXELS, blobs)(thumbnails_job(doc["id"], account.id))


async def test_content_with_charset_and_the_safe_headers(client, alice):
    doc = await upload(client, alice, "notes.txt", "héllo\n".encode())
    resp = await client.get(f"/v2/files/{doc['id']}/content", headers=alice.headers)
    assert resp.status == 200
    assert await resp.read() == "héllo\n".encode()
    assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Security-Policy"] == CSP
    assert parse_disposition(resp.headers["Content-Disposition"]) == ("inline", "notes.txt", "notes.txt")
    assert resp.headers["Cache-Control"] == "private, max-age=0"
    v1 = await client.get(f"/files/{doc['id']}/data", headers=alice.headers)
    assert v1.headers["Content-Type"] == "text/plain"  # v1 keeps its answer
    html = await upload(client, alice, "page.html", b"<script>alert(1)</script>")
    resp = await client.get(f"/v2/files/{html['id']}/content", headers=alice.headers)
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    assert parse_disposition(resp.headers["Content-Disposition"])[0] == "attachment"
    resp = await client.get(f"/v2/files/{doc['id']}/content", params={"download": "1"}, headers=alice.headers)
    assert parse_disposition(resp.headers["Content-Disposition"])[0] == "attachment"


async def test_who_may_read(client, alice, bob):
    private = await upload(client, alice, "a.bin", b"private")
    public = await upload(client, alice, "b.bin", b"public", isPublic="true")
    for account, doc, status in ((None, private, 404), (bob, private, 404), (None, public, 200), (bob, public, 200),
                                 (alice, private, 200)):
        resp = await client.get(f"/v2/files/{doc['id']}/content", headers=account.headers if account else {})
        assert resp.status == status
        if status == 404:
            assert await resp.json() == {"error": "Not found", "code": "not_found"}
        else:
            assert resp.headers["Cache-Control"] == ("public" if doc is public else "private") + ", max-age=0"
    for file_id in ("0123456789abcdef01234567", "nope", "%00"):
        resp = await client.get(f"/v2/files/{file_id}/content", headers=alice.headers)
        assert resp.status == 404


async def test_a_folder_bad_parameters_and_a_trashed_file(client, alice, storage):
    folder = await client.post("/v2/files", json={"name": "d", "type": "folder"}, headers=alice.headers)
    resp = await client.get(f"/v2/files/{(await folder.json())['id']}/content", headers=alice.headers)
    assert (resp.status, await resp.json()) == (400, {"error": "A folder doesn't have content", "code": "invalid"})
    doc = await upload(client, alice, "a.txt", b"x")
    for params, message in (({"size": "99"}, "Invalid size: use 500, 250 or 100"),
                            ({"download": "yes"}, "Invalid download: use 1 or 0")):
        resp = await client.get(f"/v2/files/{doc['id']}/content", params=params, headers=alice.headers)
        assert (resp.status, (await resp.json())["error"]) == (400, message)
    await storage.trash_file(alice.id, doc["id"], now=1.0)
    resp = await client.get(f"/v2/files/{doc['id']}/content", headers=alice.headers)
    assert resp.status == 404


async def test_range_etag_and_304(client, alice):
    content = big(10_000)
    doc = await upload(client, alice, "a.bin", content)
    url = f"/v2/files/{doc['id']}/content"
    resp = await client.get(url, headers={**alice.headers, "Range": "bytes=100-199"})
    assert resp.status == 206
    assert await resp.read() == content[100:200]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    etag = (await client.get(url, headers=alice.headers)).headers["ETag"]
    resp = await client.get(url, headers={**alice.headers, "If-None-Match": etag})
    assert resp.status == 304
    head = await client.head(url, headers=alice.headers)
    assert (head.status, head.headers["Content-Length"]) == (200, "10000")


async def test_thumbnails_made_then_remade_when_the_content_changes(client, alice, storage, backend_settings):
    doc = await upload(client, alice, "photo", image_bytes("hopper.jpg"))
    url = f"/v2/files/{doc['id']}/content"
    assert (await client.get(url, params={"size": "100"}, headers=alice.headers)).status == 404  # not yet
    await run_thumbnails(storage, alice, doc, backend_settings)
    assert (await storage.file_of_user(alice.id, doc["id"])).has_thumbnails
    thumbnail = await client.get(url, params={"size": "100"}, headers=alice.headers)
    assert thumbnail.status == 200
    old_blobs = set(folder_entries(backend_settings))
    assert len(old_blobs) == 4  # the photo and its three thumbnails

    png = image_bytes("transparent.png")
    resp = await client.put(url, data=png, headers=alice.headers)
    assert resp.status == 200
    replaced = await resp.json()
    assert (replaced["id"], replaced["sha256"], replaced["size"], replaced["type"], replaced["mimeType"],
            replaced["hasThumbnails"]) == (doc["id"], sha256(png), len(png), "image", "image/png", False)
    assert replaced["updatedAt"] >= doc["updatedAt"] and replaced["createdAt"] == doc["createdAt"]
    (new_blob,) = folder_entries(backend_settings)  # the old blob and its thumbnails are gone
    assert new_blob not in old_blobs
    assert await thumbnail_jobs(backend_settings) == [{"fileId": doc["id"], "userId": alice.id}] * 2
    assert (await client.get(url, params={"size": "100"}, headers=alice.headers)).status == 404
    await run_thumbnails(storage, alice, doc, backend_settings)
    resp = await client.get(url, params={"size": "100"}, headers=alice.headers)
    assert resp.status == 200
    assert (await resp.read())[:8] == b"\x89PNG\r\n\x1a\n"  # remade from the new content
    assert (await storage.usage(alice.id)).used_bytes == len(png)


async def test_an_image_replaced_by_text_is_a_file(client, alice, storage, backend_settings):
    doc = await upload(client, alice, "pic.gif", image_bytes("hopper.gif"))
    resp = await client.put(f"/v2/files/{doc['id']}/content", data=b"now text", headers=alice.headers)
    replaced = await resp.json()
    assert (replaced["type"], replaced["mimeType"], replaced["size"]) == ("file", "image/gif", 8)
    assert await thumbnail_jobs(backend_settings) == [{"fileId": doc["id"], "userId": alice.id}]  # the first only
    with pytest.raises(JobSkipped, match="Not an image"):  # the old job finds a file: nothing to do
        await run_thumbnails(storage, alice, doc, backend_settings)
    assert folder_entries(backend_settings) == [replaced_blob(await storage.file_of_user(alice.id, doc["id"]))]


def replaced_blob(record) -> str:
    return record.local_path.rsplit("/", 1)[-1]


@pytest.mark.parametrize("name", ["broken.png", "decompression_bomb.gif", "truncated_jpeg.jpg"])
async def test_the_worker_refuses_hostile_images_and_they_are_still_served(client, alice, storage, name,
                                                                          backend_settings):
    content = image_bytes(name)
    doc = await upload(client, alice, name, content)
    assert doc["type"] == "image"
    with pytest.raises(JobRejected, match="Image rejected"):
        await run_thumbnails(storage, alice, doc, backend_settings)
    assert not (await storage.file_of_user(alice.id, doc["id"])).has_thumbnails
    resp = await client.get(f"/v2/files/{doc['id']}/content", headers=alice.headers)
    assert await resp.read() == content
    resp = await client.get(f"/v2/files/{doc['id']}/content", params={"size": "250"}, headers=alice.headers)
    assert resp.status == 404


async def test_replacing_what_cannot_be_replaced(client, alice, bob, storage, backend_settings):
    doc = await upload(client, alice, "a.txt", b"abc")
    folder = await client.post("/v2/files", json={"name": "d", "type": "folder"}, headers=alice.headers)
    kept = folder_entries(backend_settings)
    cases = ((f"/v2/files/{(await folder.json())['id']}/content", alice, 400),
             (f"/v2/files/{doc['id']}/content", bob, 404),
             ("/v2/files/0123456789abcdef01234567/content", alice, 404),
             (f"/v2/files/{doc['id']}/content", None, 401))
    for url, account, status in cases:
        resp = await client.put(url, data=b"new", headers=account.headers if account else {})
        assert resp.status == status
    await nothing_left(storage, backend_settings, alice.id, kept=kept, used_bytes=3, files=2)


async def test_a_client_gone_mid_replacement_changes_nothing(client, alice, storage, backend_settings):
    doc = await upload(client, alice, "a.bin", b"old content")
    kept = folder_entries(backend_settings)
    _, writer = await raw_request(server_port(client, backend_settings),
                                  f"PUT /v2/files/{doc['id']}/content HTTP/1.1\r\nHost: x\r\n"
                                  f"X-Token: {alice.token}\r\nContent-Length: {16 * 1024 * 1024}\r\n\r\n")
    # Past one part with blobs in S3: its multipart upload is the part file.
    writer.write(big(backend_settings.blobs.part_size + 1 if backend_settings.storage.blob_url else 2 * 1024 * 1024))
    await writer.drain()
    await until(lambda: len(folder_entries(backend_settings)) == 2, "the new content's part file")
    writer.transport.abort()
    await until(lambda: folder_entries(backend_settings) == kept, "the part file removed")
    await nothing_left(storage, backend_settings, alice.id, kept=kept, used_bytes=11, files=1)
    resp = await client.get(f"/v2/files/{doc['id']}/content", headers=alice.headers)
    assert await resp.read() == b"old content"


async def test_a_replacement_sent_as_multipart_is_stored_as_sent(client, alice):
    """The body of PUT is the content, whatever it looks like."""
    doc = await upload(client, alice, "raw.bin", b"x")
    body = boundary_body([file_part("inner.txt", b"inner")])
    resp = await client.put(f"/v2/files/{doc['id']}/content", data=body,
                            headers={**alice.headers, "Content-Type": "multipart/form-data; boundary=b0undary"})
    assert (await resp.json())["size"] == len(body)
    got = await client.get(f"/v2/files/{doc['id']}/content", headers=alice.headers)
    assert await got.read() == body


async def test_no_body_empties_the_file(client, alice, storage):
    doc = await upload(client, alice, "a.txt", b"some text")
    resp = await client.put(f"/v2/files/{doc['id']}/content", headers=alice.headers)
    assert resp.status == 200
    assert ((await resp.json())["size"], (await resp.json())["sha256"]) == (0, sha256(b""))
    assert (await storage.usage(alice.id)).used_bytes == 0
    got = await client.get(f"/v2/files/{doc['id']}/content", headers=alice.headers)
    assert (got.status, await got.read()) == (200, b"")
