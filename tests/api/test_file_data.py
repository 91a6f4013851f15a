"""GET /files/:id/data: visibility first, folders, thumbnails, content types,
streaming with Range and conditional requests."""

from __future__ import annotations

import os

import pytest

from .conftest import b64, upload
from .uploads import drop_blob, folder_entries, put_blob

CONTENT = b"Hello Webstack!\n"


@pytest.fixture
async def private_file(client, alice):
    return await upload(client, alice, name="hello.txt", type="file", data=b64(CONTENT))


@pytest.fixture
async def public_file(client, alice):
    return await upload(client, alice, name="hello.txt", type="file", data=b64(CONTENT), isPublic=True)


async def test_owner_reads_private_content(client, alice, private_file):
    resp = await client.get(f"/files/{private_file['id']}/data", headers=alice.headers)
    assert resp.status == 200
    assert await resp.read() == CONTENT
    assert resp.headers["Content-Type"] == "text/plain"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_anonymous_reads_public_content(client, public_file):
    resp = await client.get(f"/files/{public_file['id']}/data")
    assert resp.status == 200
    assert await resp.read() == CONTENT


async def test_another_user_reads_public_content(client, bob, public_file):
    resp = await client.get(f"/files/{public_file['id']}/data", headers=bob.headers)
    assert resp.status == 200
    assert await resp.read() == CONTENT


async def test_private_content_is_not_found_for_anonymous(client, private_file):
    resp = await client.get(f"/files/{private_file['id']}/data")
    assert resp.status == 404
    assert await resp.json() == {"error": "Not found"}


async def test_private_content_is_not_found_for_another_user(client, bob, private_file):
    resp = await client.get(f"/files/{private_file['id']}/data", headers=bob.headers)
    assert resp.status == 404
    assert await resp.json() == {"error": "Not found"}


async def test_private_content_with_a_bad_token_is_not_found(client, private_file):
    resp = await client.get(f"/files/{private_file['id']}/data", headers={"X-Token": "bad"})
    assert resp.status == 404


@pytest.mark.parametrize("file_id", ["0123456789abcdef01234567", "bad-id"])
async def test_unknown_file_is_not_found(client, alice, file_id):
    resp = await client.get(f"/files/{file_id}/data", headers=alice.headers)
    assert resp.status == 404
    assert await resp.json() == {"error": "Not found"}


async def test_own_folder_has_no_content(client, alice):
    folder = await upload(client, alice, name="docs", type="folder")
    resp = await client.get(f"/files/{folder['id']}/data", headers=alice.headers)
    assert resp.status == 400
    assert await resp.json() == {"error": "A folder doesn't have content"}


async def test_public_folder_has_no_content_for_anyone(client, alice):
    folder = await upload(client, alice, name="docs", type="folder", isPublic=True)
    resp = await client.get(f"/files/{folder['id']}/data")
    assert resp.status == 400
    assert await resp.json() == {"error": "A folder doesn't have content"}


async def test_private_folder_of_someone_else_is_not_found_first(client, alice, bob):
    folder = await upload(client, alice, name="docs", type="folder")
    resp = await client.get(f"/files/{folder['id']}/data", headers=bob.headers)
    assert resp.status == 404
    assert await resp.json() == {"error": "Not found"}


async def test_content_missing_on_disk_is_not_found(client, alice, private_file, backend_settings):
    for name in folder_entries(backend_settings):
        drop_blob(backend_settings, name)
    resp = await client.get(f"/files/{private_file['id']}/data", headers=alice.headers)
    assert resp.status == 404
    assert await resp.json() == {"error": "Not found"}


async def test_thumbnail_served_when_present_and_404_when_not(client, alice, backend_settings):
    image = await upload(client, alice, name="a.png", type="image", data=b64(b"\x89PNG-original"))
    (blob,) = folder_entries(backend_settings)
    put_blob(backend_settings, f"{blob}_250", b"thumb-250")
    resp = await client.get(f"/files/{image['id']}/data", params={"size": "250"}, headers=alice.headers)
    assert resp.status == 200
    assert await resp.read() == b"thumb-250"
    assert resp.headers["Content-Type"] == "image/png"
    resp = await client.get(f"/files/{image['id']}/data", params={"size": "500"}, headers=alice.headers)
    assert resp.status == 404
    assert await resp.json() == {"error": "Not found"}


async def test_invalid_size_is_a_clear_400(client, alice, private_file):
    resp = await client.get(f"/files/{private_file['id']}/data", params={"size": "42"}, headers=alice.headers)
    assert resp.status == 400
    assert await resp.json() == {"error": "Invalid size: use 500, 250 or 100"}


@pytest.mark.parametrize(
    "name, expected",
    [("hello.txt", "text/plain"), ("a.png", "image/png"), ("photo.JPG", "image/jpeg"),
     ("noext", "application/octet-stream"), ("weird.zzqx", "application/octet-stream"),
     ("page.html", "text/html")],
)
async def test_content_type_from_the_name(client, alice, name, expected):
    created = await upload(client, alice, name=name, type="file", data=b64(b"x"))
    resp = await client.get(f"/files/{created['id']}/data", headers=alice.headers)
    assert resp.headers["Content-Type"] == expected
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_bytes_are_exactly_those_uploaded(client, alice):
    content = os.urandom(3 * 1024 * 1024 + 7)
    created = await upload(client, alice, name="blob.bin", type="file", data=b64(content))
    resp = await client.get(f"/files/{created['id']}/data", headers=alice.headers)
    assert await resp.read() == content


async def test_range_request_gets_206_and_the_slice(client, alice):
    content = bytes(range(256)) * 40
    created = await upload(client, alice, name="blob.bin", type="file", data=b64(content))
    resp = await client.get(f"/files/{created['id']}/data", headers={**alice.headers, "Range": "bytes=100-199"})
    assert resp.status == 206
    assert await resp.read() == content[100:200]
    assert resp.headers["Content-Range"] == f"bytes 100-199/{len(content)}"


async def test_etag_and_304(client, alice, private_file):
    url = f"/files/{private_file['id']}/data"
    first = await client.get(url, headers=alice.headers)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    again = await client.get(url, headers={**alice.headers, "If-None-Match": etag})
    assert again.status == 304
    assert await again.read() == b""
    since = await client.get(url, headers={**alice.headers, "If-Modified-Since": modified})
    assert since.status == 304


async def test_unpublished_file_is_no_longer_readable_anonymously(client, alice, public_file):
    await client.put(f"/files/{public_file['id']}/unpublish", headers=alice.headers)
    resp = await client.get(f"/files/{public_file['id']}/data")
    assert resp.status == 404
