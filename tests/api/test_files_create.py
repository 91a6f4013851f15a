"""POST /files: every check, in the contract's order, and nothing left behind."""

from __future__ import annotations

import base64
import json
import os

import pytest
import redis.asyncio as aioredis

from shared.jobs import stream_of

from .conftest import b64, upload
from .uploads import blob_bytes, folder_entries


def blobs(settings) -> list[str]:
    return folder_entries(settings)


async def stats(client) -> dict:
    return await (await client.get("/stats")).json()


async def test_unauthorized_comes_before_anything_in_the_body(client):
    resp = await client.post("/files", data=b"{broken")
    assert resp.status == 401
    assert await resp.json() == {"error": "Unauthorized"}


async def test_unauthorized_with_unknown_token(client):
    resp = await client.post("/files", json={"name": "x", "type": "folder"}, headers={"X-Token": "bad"})
    assert resp.status == 401


@pytest.mark.parametrize(
    "body, message",
    [
        ({}, "Missing name"),
        ({"name": "", "type": "folder"}, "Missing name"),
        ({"type": "file", "data": "aGk="}, "Missing name"),
        ({"name": "x"}, "Missing type"),
        ({"name": "x", "type": "video", "data": "aGk="}, "Missing type"),
        ({"name": "x", "type": "file"}, "Missing data"),
        ({"name": "x", "type": "image", "data": ""}, "Missing data"),
        ({"name": "x", "type": "file", "data": "aGk=", "parentId": "0123456789abcdef01234567"}, "Parent not found"),
        ({"name": "x", "type": "folder", "parentId": "not-an-id"}, "Parent not found"),
        ({"name": "x", "type": "folder", "parentId": 12}, "Parent not found"),
        ({"name": "x", "type": "folder", "parentId": {"$ne": None}}, "Parent not found"),
    ],
)
async def test_contract_checks_and_messages(client, alice, body, message, backend_settings):
    resp = await client.post("/files", json=body, headers=alice.headers)
    assert resp.status == 400
    assert await resp.json() == {"error": message}
    assert await stats(client) == {"users": 1, "files": 0}
    assert blobs(backend_settings) == []


async def test_missing_name_comes_before_missing_type_and_data(client, alice):
    resp = await client.post("/files", json={"parentId": "nope"}, headers=alice.headers)
    assert await resp.json() == {"error": "Missing name"}


async def test_missing_data_comes_before_parent_not_found(client, alice):
    resp = await client.post("/files", json={"name": "x", "type": "file", "parentId": "nope"},
                             headers=alice.headers)
    assert await resp.json() == {"error": "Missing data"}


async def test_parent_is_not_a_folder(client, alice, backend_settings):
    parent = await upload(client, alice, name="a.txt", type="file", data="aGk=")
    resp = await client.post("/files", json={"name": "x", "type": "file", "data": "aGk=",
                                             "parentId": parent["id"]}, headers=alice.headers)
    assert resp.status == 400
    assert await resp.json() == {"error": "Parent is not a folder"}
    assert len(blobs(backend_settings)) == 1  # only the parent's


async def test_another_users_folder_is_parent_not_found(client, alice, bob):
    folder = await upload(client, bob, name="bobs", type="folder")
    resp = await client.post("/files", json={"name": "x", "type": "folder", "parentId": folder["id"]},
                             headers=alice.headers)
    assert resp.status == 400
    assert await resp.json() == {"error": "Parent not found"}


async def test_create_folder_at_root(client, alice, backend_settings):
    resp = await client.post("/files", json={"name": "images", "type": "folder"}, headers=alice.headers)
    assert resp.status == 201
    body = await resp.json()
    assert set(body) == {"id", "userId", "name", "type", "isPublic", "parentId"}
    assert body["userId"] == alice.id
    assert body["name"] == "images" and body["type"] == "folder"
    assert body["isPublic"] is False
    assert body["parentId"] == 0 and isinstance(body["parentId"], int)
    assert blobs(backend_settings) == []  # a folder is only metadata


@pytest.mark.parametrize("root", [0, "0", None, ""])
async def test_root_may_be_sent_as_0_or_string_0(client, alice, root):
    body = await upload(client, alice, name="f", type="folder", parentId=root)
    assert body["parentId"] == 0


async def test_create_file_writes_exactly_the_decoded_bytes_under_a_uuid_name(client, alice, backend_settings):
    content = b"Hello Webstack!\n" + bytes(range(256))
    body = await upload(client, alice, name="../../etc/passwd", type="file", data=b64(content), isPublic=True)
    assert body["isPublic"] is True and body["parentId"] == 0
    names = blobs(backend_settings)
    assert len(names) == 1
    assert len(names[0]) == 36 and names[0].count("-") == 4  # a UUID, never the given name
    assert blob_bytes(backend_settings, names[0]) == content


async def test_file_in_a_folder_gets_the_folder_as_parent(client, alice):
    folder = await upload(client, alice, name="docs", type="folder")
    body = await upload(client, alice, name="a.txt", type="file", data="aGk=", parentId=folder["id"])
    assert body["parentId"] == folder["id"]


async def test_folder_path_is_created_if_missing(client, alice, backend_settings):
    folder = backend_settings.storage.folder_path
    if folder.exists():
        folder.rmdir()
    await upload(client, alice, name="a.txt", type="file", data="aGk=")
    assert len(blobs(backend_settings)) == 1


async def test_image_enqueues_a_thumbnails_job(client, alice, backend_settings):
    resp = await client.post("/files", json={"name": "a.png", "type": "image", "data": b64(b"\x89PNG...")},
                             headers={**alice.headers, "X-Request-Id": "upload-a-png"})
    assert resp.status == 201
    body = await resp.json()
    async with aioredis.from_url(backend_settings.redis.url) as r:
        entries = await r.xrange(stream_of("thumbnails"))
    # The job names the request that enqueued it: its log lines find their upload's.
    assert [json.loads(e[1][b"data"]) for e in entries] == [
        {"fileId": body["id"], "userId": alice.id, "requestId": "upload-a-png"}]


async def test_plain_file_enqueues_no_thumbnails_job(client, alice, backend_settings):
    await upload(client, alice, name="a.txt", type="file", data="aGk=")
    async with aioredis.from_url(backend_settings.redis.url) as r:
        assert await r.xlen(stream_of("thumbnails")) == 0


async def test_invalid_base64_is_a_clear_400_and_leaves_nothing(client, alice, backend_settings):
    resp = await client.post("/files", json={"name": "x", "type": "file", "data": "not base64!!"},
                             headers=alice.headers)
    assert resp.status == 400
    assert await resp.json() == {"error": "Invalid data: not base64"}
    assert blobs(backend_settings) == []
    assert (await stats(client))["files"] == 0


async def test_base64_with_line_breaks_is_accepted(client, alice, backend_settings):
    content = os.urandom(300)
    wrapped = "\n".join(b64(content)[i:i + 76] for i in range(0, 400, 76))
    await upload(client, alice, name="x.bin", type="file", data=wrapped)
    (name,) = blobs(backend_settings)
    assert blob_bytes(backend_settings, name) == content


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"name": 5}, "Invalid name: expected a string of at most 1024 characters"),
        ({"isPublic": "yes"}, "Invalid isPublic: expected true or false"),
        ({"data": 1234}, "Invalid data: expected a base64 string"),
    ],
)
async def test_wrong_types_are_clear_400s(client, alice, extra, message, backend_settings):
    body = {"name": "x", "type": "file", "data": "aGk=", **extra}
    resp = await client.post("/files", json=body, headers=alice.headers)
    assert resp.status == 400
    assert await resp.json() == {"error": message}
    assert blobs(backend_settings) == []


async def test_malformed_json_body_is_a_400(client, alice):
    resp = await client.post("/files", data=b'{"name": ', headers={**alice.headers,
                                                                    "Content-Type": "application/json"})
    assert resp.status == 400
    assert (await resp.json())["error"].startswith("Invalid JSON body")


async def test_a_50_megabyte_file_goes_through(client, alice, backend_settings):
    content = os.urandom(50 * 1024 * 1024)
    payload = json.dumps({"name": "big.bin", "type": "file", "data": base64.b64encode(content).decode()})
    resp = await client.post("/files", data=payload, headers={**alice.headers, "Content-Type": "application/json"})
    assert resp.status == 201, await resp.text()
    (name,) = blobs(backend_settings)
    assert len(blob_bytes(backend_settings, name)) == len(content)


async def test_a_body_over_the_limit_is_413_with_a_json_error(client, alice, backend_settings):
    limit = backend_settings.server.max_body_size
    payload = b'{"name": "x", "type": "file", "data": "' + b"A" * limit + b'"}'
    resp = await client.post("/files", data=payload, headers={**alice.headers, "Content-Type": "application/json"})
    assert resp.status == 413
    assert (await resp.json())["error"].startswith("Request body too large")
    assert blobs(backend_settings) == []
    assert (await stats(client))["files"] == 0


async def test_upload_failing_after_the_write_leaves_no_blob_and_no_document(client, alice, backend_settings):
    """The job cannot be enqueued (the stream key holds a string: Redis refuses
    XADD) after the blob and the document were written: the request fails and
    neither stays behind."""
    async with aioredis.from_url(backend_settings.redis.url) as r:
        await r.set(stream_of("thumbnails"), "not a stream")
    resp = await client.post("/files", json={"name": "a.png", "type": "image", "data": "aGk="},
                             headers=alice.headers)
    assert resp.status == 500
    assert await resp.json() == {"error": "Internal server error"}
    assert blobs(backend_settings) == []
    assert (await stats(client))["files"] == 0


async def test_sign_up_failing_to_enqueue_leaves_no_user(client, backend_settings):
    async with aioredis.from_url(backend_settings.redis.url) as r:
        await r.set(stream_of("welcome"), "not a stream")
    resp = await client.post("/users", json={"email": "x@y.z", "password": "pw"})
    assert resp.status == 500
    assert (await stats(client))["users"] == 0
