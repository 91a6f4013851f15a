"""tus 1.0.0 at /v2/uploads, at the protocol level (api-v2.md; tus.io's
protocol text): core, OPTIONS, creation, creation-with-upload, termination,
expiration, checksum, and every way a request can be wrong. Each test runs on
SQLite, MongoDB and the live supervisor (the `client` fixture)."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import os
import time
from pathlib import Path

import pytest
import redis as redis_sync

from shared.config import Settings
from shared.jobs import stream_of
from shared.storage import Storage, Upload, open_storage
from shared.upload_lock import lock_key
from shared.upload_parts import probe_lock
from tests.conftest import until
from tests.engines.s3 import s3_where, store_bytes, stored_bytes

from .conftest import Account, sign_up, upload
from .tus_support import (
    CHUNK,
    TUS,
    assert_file,
    create,
    file_of,
    metadata,
    new_upload,
    offset_of,
    patch,
    tus,
)
from .tus_support import (
    base_url as server_url,
)

IMAGES = Path(__file__).resolve().parents[1] / "images"


@pytest.fixture
async def storage(backend_settings: Settings):
    """The service's own storage, opened beside it (real database, same file or server)."""
    opened = await open_storage(backend_settings.storage.db_url)
    yield opened
    await opened.close()


def part_of(settings: Settings, url: str) -> Path:
    return settings.storage.folder_path / ".uploads" / f"{url.rsplit('/', 1)[1]}.part"


# The upload's bytes wherever they grow: its part file, or its chunks in S3
# (shared/s3_upload_parts.py) and their writer's lock in Redis.

def part_exists(settings: Settings, url: str) -> bool:
    if settings.storage.blob_url:
        return bool(_chunks(settings, url))
    return part_of(settings, url).exists()


def part_size(settings: Settings, url: str) -> int:
    """Bytes the part holds (chunks in S3: all of them, counted or not)."""
    if settings.storage.blob_url:
        return sum(len(stored_bytes(settings, name)) for name in _chunks(settings, url))
    return part_of(settings, url).stat().st_size


def part_held(settings: Settings, url: str) -> bool:
    """A request is writing the upload now."""
    if settings.storage.blob_url:
        with redis_sync.Redis.from_url(settings.redis.url) as client:
            return bool(client.exists(lock_key(url.rsplit("/", 1)[1])))
    part = part_of(settings, url)
    return part.exists() and not probe_lock(str(part))


def write_part(settings: Settings, url: str, content: bytes) -> None:
    """The upload's bytes as a request that died before finishing it left them."""
    if settings.storage.blob_url:
        store_bytes(settings, f".uploads/{url.rsplit('/', 1)[1]}/{0:020d}-written", content)
        return
    part = part_of(settings, url)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(content)


def _chunks(settings: Settings, url: str) -> list[str]:
    client, bucket, prefix = s3_where(settings)
    found = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}.uploads/{url.rsplit('/', 1)[1]}/")
    return [item["Key"][len(prefix):] for item in found.get("Contents", [])]


def assert_error(resp, body: dict, status: int, code: str | None = None) -> None:
    assert resp.status == status, body
    assert resp.headers["Tus-Resumable"] == "1.0.0"
    assert isinstance(body["error"], str) and body["error"]
    if code is not None:
        assert body["code"] == code


# --------------------------------------------------------------- discovery


async def test_options_announces_the_server(client, alice: Account, backend_settings: Settings):
    resp = await client.options("/v2/uploads", headers=alice.headers)
    assert resp.status == 204
    assert resp.headers["Tus-Resumable"] == "1.0.0"
    assert resp.headers["Tus-Version"] == "1.0.0"
    assert set(resp.headers["Tus-Extension"].split(",")) == {
        "creation", "creation-with-upload", "termination", "expiration", "checksum"}
    assert int(resp.headers["Tus-Max-Size"]) == backend_settings.storage.max_file_size
    assert resp.headers["Tus-Checksum-Algorithm"].split(",") == ["sha1", "md5", "sha256"]
    resp = await client.options("/v2/uploads")
    assert_error(resp, await resp.json(), 401, "unauthorized")


# ---------------------------------------------------------------- the happy path


async def test_upload_in_chunks_becomes_one_file(client, alice: Account, storage: Storage,
                                                 backend_settings: Settings):
    content = os.urandom(3 * 1024 * 1024 + 17)
    before = time.time()
    resp = await create(client, alice, len(content), "report.pdf")
    assert resp.status == 201, await resp.text()
    url = resp.headers["Location"]
    assert url.startswith("/v2/uploads/") and len(url.rsplit("/", 1)[1]) == 24
    assert resp.headers["Tus-Resumable"] == "1.0.0"
    assert resp.headers["Upload-Offset"] == "0"
    expires = email.utils.parsedate_to_datetime(resp.headers["Upload-Expires"]).timestamp()
    assert before + backend_settings.uploads.expiry - 2 <= expires <= time.time() + backend_settings.uploads.expiry
    assert (await storage.usage(alice.id)).reserved_bytes == len(content)

    head = await client.head(url, headers=tus(alice))
    assert head.status == 200
    assert head.headers["Upload-Offset"] == "0"
    assert head.headers["Upload-Length"] == str(len(content))
    assert head.headers["Cache-Control"] == "no-store"
    pairs = dict(p.split(" ") for p in head.headers["Upload-Metadata"].split(","))
    assert base64.b64decode(pairs["filename"]) == b"report.pdf"

    offset = 0
    for size in (1024 * 1024, 1, 2 * 1024 * 1024):
        resp = await patch(client, alice, url, offset, content[offset:offset + size])
        assert resp.status == 204, await resp.text()
        offset += size
        assert resp.headers["Upload-Offset"] == str(offset)
        assert "File-Id" not in resp.headers and "Upload-Expires" in resp.headers
        assert await offset_of(client, alice, url) == offset
    resp = await patch(client, alice, url, offset, content[offset:])
    assert resp.status == 204, await resp.text()
    assert resp.headers["Upload-Offset"] == str(len(content))
    file_id = resp.headers["File-Id"]
    document = await assert_file(client, alice, file_id, content, "report.pdf")
    assert document["type"] == "file" and document["parentId"] == 0 and document["isPublic"] is False
    usage = await storage.usage(alice.id)
    assert (usage.used_bytes, usage.reserved_bytes) == (len(content), 0)
    assert not part_exists(backend_settings, url)  # the part became the blob

    # The last PATCH retried (its answer lost): the same file, not a second one.
    again = await patch(client, alice, url, len(content), b"")
    assert again.status == 204 and again.headers["File-Id"] == file_id
    head = await client.head(url, headers=tus(alice))
    assert head.headers["File-Id"] == file_id and head.headers["Upload-Offset"] == str(len(content))
    listing = await client.get("/v2/files", headers=alice.headers)
    assert [item["id"] for item in (await listing.json())["items"]] == [file_id]


async def test_metadata_places_the_file(client, alice: Account):
    folder_id = (await upload(client, alice, name="docs", type="folder"))["id"]
    headers = tus(alice, Upload_Length="5", Upload_Metadata=metadata(
        filename="Café.txt".replace("é", "e\u0301"), parentId=folder_id, isPublic="true", filetype="text/plain"))
    resp = await client.post("/v2/uploads", headers={**headers, **CHUNK}, data=b"hello")
    assert resp.status == 201, await resp.text()
    document = await assert_file(client, alice, resp.headers["File-Id"], b"hello", "Café.txt")  # NFC
    assert document["parentId"] == folder_id and document["isPublic"] is True
    assert resp.headers["Upload-Offset"] == "5" and "Upload-Expires" not in resp.headers


async def test_creation_with_upload_carries_a_first_chunk(client, alice: Account):
    content = os.urandom(300_000)
    resp = await create(client, alice, len(content), body=content[:100_000])
    assert resp.status == 201, await resp.text()
    assert resp.headers["Upload-Offset"] == "100000" and "File-Id" not in resp.headers
    url = resp.headers["Location"]
    resp = await patch(client, alice, url, 100_000, content[100_000:])
    assert resp.status == 204
    await assert_file(client, alice, resp.headers["File-Id"], content, "data.bin")


async def test_an_empty_upload_is_a_file_at_once(client, alice: Account):
    resp = await create(client, alice, 0, "empty")
    assert resp.status == 201, await resp.text()
    await assert_file(client, alice, resp.headers["File-Id"], b"", "empty")


async def test_an_image_gets_its_type_from_its_bytes_and_a_thumbnails_job(client, alice: Account,
                                                                          backend_settings: Settings):
    import redis.asyncio as redis

    content = (IMAGES / "transparent.png").read_bytes()
    resp = await create(client, alice, len(content), "no-extension", body=content)
    assert resp.status == 201, await resp.text()
    document = await assert_file(client, alice, resp.headers["File-Id"], content, "no-extension")
    assert (document["type"], document["mimeType"]) == ("image", "image/png")
    disguised = b"\x89PNG not really" * 10
    resp = await create(client, alice, len(disguised), "fake.png", body=b"%PDF" + disguised[4:])
    assert (await file_of(client, alice, resp.headers["File-Id"]))["type"] == "file"
    async with redis.from_url(backend_settings.redis.url) as r:
        jobs = await r.xrange(stream_of("thumbnails"))
    assert [document["id"] in fields[b"data"].decode() for _, fields in jobs] == [True]


async def test_method_override_for_clients_without_patch_or_delete(client, alice: Account):
    url = await new_upload(client, alice, 4)
    resp = await client.post(url, headers={**tus(alice, Upload_Offset="0", X_HTTP_Method_Override="PATCH"),
                                           **CHUNK}, data=b"abcd")
    assert resp.status == 204 and "File-Id" in resp.headers
    url = await new_upload(client, alice, 4)
    resp = await client.post(url, headers=tus(alice, X_HTTP_Method_Override="DELETE"))
    assert resp.status == 204
    assert (await client.head(url, headers=tus(alice))).status == 404
    resp = await client.post(url, headers=tus(alice, X_HTTP_Method_Override="GET"))
    assert_error(resp, await resp.json(), 405)


# ---------------------------------------------------------------- checksum


@pytest.mark.parametrize("algorithm", ["sha1", "md5", "sha256"])
async def test_checksums_are_checked_and_a_mismatch_drops_the_chunk(client, alice: Account, algorithm: str):
    content = os.urandom(200_000)
    url = await new_upload(client, alice, len(content))

    def checksum(data: bytes) -> str:
        return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"

    resp = await patch(client, alice, url, 0, content[:100_000], Upload_Checksum=checksum(b"other bytes"))
    assert_error(resp, await resp.json(), 460, "checksum_mismatch")
    assert await offset_of(client, alice, url) == 0
    resp = await patch(client, alice, url, 0, content[:100_000], Upload_Checksum=checksum(content[:100_000]))
    assert resp.status == 204, await resp.text()
    resp = await patch(client, alice, url, 100_000, content[100_000:], Upload_Checksum=checksum(content[100_000:]))
    assert resp.status == 204, await resp.text()
    await assert_file(client, alice, resp.headers["File-Id"], content, "data.bin")


@pytest.mark.parametrize("value", ["crc32 AAAAAA==", "SHA1 " + "A" * 28, "sha1 not-base64!", "sha1 AAAA",
                                   "sha1", ""])
async def test_a_bad_checksum_header_is_400_and_keeps_nothing(client, alice: Account, value: str):
    url = await new_upload(client, alice, 10)
    resp = await patch(client, alice, url, 0, b"0123456789", Upload_Checksum=value)
    assert_error(resp, await resp.json(), 400, "invalid")
    assert await offset_of(client, alice, url) == 0


# ---------------------------------------------------------------- offsets and races


async def test_a_wrong_offset_is_409_and_changes_nothing(client, alice: Account):
    url = await new_upload(client, alice, 10)
    assert (await patch(client, alice, url, 0, b"01234")).status == 204
    for wrong in (0, 3, 6, 10):
        resp = await patch(client, alice, url, wrong, b"56789")
        assert_error(resp, await resp.json(), 409, "conflict")
    assert await offset_of(client, alice, url) == 5


async def test_two_patches_racing_on_one_upload_one_gets_409(client, alice: Account):
    content = {tag: bytes([tag]) * 1_500_000 for tag in (1, 2)}
    url = await new_upload(client, alice, 3_000_000)
    results = await asyncio.gather(*(patch(client, alice, url, 0, data) for data in content.values()))
    assert sorted(r.status for r in results) == [204, 409]
    winner = next(tag for tag, r in zip(content, results, strict=True) if r.status == 204)
    resp = await patch(client, alice, url, 1_500_000, content[winner])
    assert resp.status == 204
    await assert_file(client, alice, resp.headers["File-Id"], content[winner] * 2, "data.bin")


async def raw_patch(client, account: Account, url: str, offset: int, length: int, **extra: str):
    """A PATCH whose head is sent and whose body is ours to send (or not)."""
    host, port = server_url(client).removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    headers = {**tus(account, Upload_Offset=str(offset), **extra), **CHUNK, "Content-Length": str(length)}
    writer.write((f"PATCH {url} HTTP/1.1\r\nHost: x\r\n"
                  + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode())
    await writer.drain()
    return reader, writer


async def test_a_patch_while_another_writes_is_409(client, alice: Account, backend_settings: Settings):
    url = await new_upload(client, alice, 10)
    reader, writer = await raw_patch(client, alice, url, 0, 10)
    writer.write(b"01234")
    await writer.drain()
    await until(lambda: asyncio.to_thread(part_held, backend_settings, url), "the first PATCH to hold the part")
    resp = await patch(client, alice, url, 0, b"abcdefghij")
    assert_error(resp, await resp.json(), 409, "conflict")
    resp = await client.delete(url, headers=tus(alice))  # nor can it be terminated meanwhile
    assert_error(resp, await resp.json(), 409, "conflict")
    writer.write(b"56789")
    await writer.drain()
    status = await reader.readline()
    assert b" 204 " in status
    writer.close()
    assert await offset_of(client, alice, url) == 10


async def test_a_client_gone_mid_patch_keeps_what_arrived(client, alice: Account, backend_settings: Settings):
    content = os.urandom(1_000_000)
    url = await new_upload(client, alice, len(content))
    _, writer = await raw_patch(client, alice, url, 0, len(content))
    writer.write(content[:300_000])
    await writer.drain()
    await until(lambda: asyncio.to_thread(part_held, backend_settings, url), "the PATCH to hold the part")
    writer.close()  # gone, mid-body (after its bytes: a reset could drop some unread)
    await until(lambda: asyncio.to_thread(lambda: not part_held(backend_settings, url)), "the PATCH to end")
    kept = await offset_of(client, alice, url)
    assert kept == 300_000 == part_size(backend_settings, url)
    resp = await patch(client, alice, url, kept, content[kept:])
    assert resp.status == 204
    await assert_file(client, alice, resp.headers["File-Id"], content, "data.bin")


async def test_a_client_gone_mid_patch_with_a_checksum_keeps_nothing(client, alice: Account,
                                                                      backend_settings: Settings):
    content = os.urandom(1_000_000)
    url = await new_upload(client, alice, len(content))
    digest = base64.b64encode(hashlib.sha1(content).digest()).decode()
    _, writer = await raw_patch(client, alice, url, 0, len(content), Upload_Checksum=f"sha1 {digest}")
    writer.write(content[:300_000])
    await writer.drain()
    await until(lambda: asyncio.to_thread(part_held, backend_settings, url), "the PATCH to hold the part")
    writer.close()
    await until(lambda: asyncio.to_thread(lambda: not part_held(backend_settings, url)), "the PATCH to end")
    assert await offset_of(client, alice, url) == 0
    assert part_size(backend_settings, url) == 0


async def test_a_body_past_the_length_is_413_and_dropped(client, alice: Account):
    url = await new_upload(client, alice, 10)
    resp = await patch(client, alice, url, 0, b"x" * 11)
    assert_error(resp, await resp.json(), 413)

    async def chunked():
        yield b"x" * 6
        yield b"y" * 6

    resp = await client.patch(url, headers={**tus(alice, Upload_Offset="0"), **CHUNK}, data=chunked())
    assert_error(resp, await resp.json(), 413)
    assert await offset_of(client, alice, url) == 0


# ---------------------------------------------------------------- bad requests


@pytest.mark.parametrize("method", ["POST", "HEAD", "PATCH", "DELETE"])
@pytest.mark.parametrize("version", [None, "0.2.2", "1.0", "1.0.1"])
async def test_without_tus_1_0_0_it_is_412_and_nothing_happens(client, alice: Account, storage: Storage,
                                                                method: str, version: str | None):
    url = await new_upload(client, alice, 10)
    headers = {**alice.headers, "Upload-Length": "10", "Upload-Metadata": metadata(filename="x"),
               "Upload-Offset": "0", **CHUNK}
    if version is not None:
        headers["Tus-Resumable"] = version
    resp = await client.request(method, "/v2/uploads" if method == "POST" else url, headers=headers,
                                data=b"0123456789" if method == "PATCH" else None)
    assert resp.status == 412
    assert resp.headers["Tus-Version"] == "1.0.0" and resp.headers["Tus-Resumable"] == "1.0.0"
    if method != "HEAD":
        assert (await resp.json())["code"] == "unsupported_version"
    assert await offset_of(client, alice, url) == 0
    assert (await storage.usage(alice.id)).reserved_bytes == 10  # the first upload only


@pytest.mark.parametrize("content_type", [None, "application/octet-stream", "text/plain"])
async def test_a_chunk_of_another_type_is_415(client, alice: Account, storage: Storage, content_type: str | None):
    url = await new_upload(client, alice, 10)
    headers = tus(alice, Upload_Offset="0")
    if content_type:
        headers["Content-Type"] = content_type
    resp = await client.patch(url, headers=headers, data=b"0123456789")
    assert_error(resp, await resp.json(), 415, "unsupported_media_type")
    resp = await client.post("/v2/uploads", headers={**tus(alice, Upload_Length="10", Upload_Metadata=metadata(
        filename="x")), **({"Content-Type": content_type} if content_type else {})}, data=b"0123456789")
    assert_error(resp, await resp.json(), 415, "unsupported_media_type")
    assert await offset_of(client, alice, url) == 0
    assert (await storage.usage(alice.id)).reserved_bytes == 10


@pytest.mark.parametrize("value", [None, "", "-1", "+1", "1.0", "0x1", "\u00b2", "1,1", "1 1", "9" * 20])
async def test_a_malformed_upload_offset_is_400(client, alice: Account, value: str | None):
    url = await new_upload(client, alice, 10)
    headers = {**tus(alice), **CHUNK}
    if value is not None:
        headers["Upload-Offset"] = value
    resp = await client.patch(url, headers=headers, data=b"0123456789")
    assert_error(resp, await resp.json(), 400, "invalid")
    assert "Upload-Offset" in (await resp.json())["error"]


@pytest.mark.parametrize(("headers", "message"), [
    ({}, "Upload-Length"),
    ({"Upload-Length": "-5"}, "Upload-Length"),
    ({"Upload-Length": "5.0"}, "Upload-Length"),
    ({"Upload-Length": "ten"}, "Upload-Length"),
    ({"Upload-Defer-Length": "1"}, "Upload-Defer-Length"),
    ({"Upload-Length": "5", "Upload-Defer-Length": "1"}, "Upload-Defer-Length"),
])
async def test_creation_needs_a_length(client, alice: Account, storage: Storage, headers: dict, message: str):
    resp = await client.post("/v2/uploads", headers={**tus(alice, Upload_Metadata=metadata(filename="x")),
                                                     **headers})
    body = await resp.json()
    assert_error(resp, body, 400, "invalid")
    assert message in body["error"]
    assert (await storage.usage(alice.id)).reserved_bytes == 0


@pytest.mark.parametrize(("value", "message"), [
    (None, "Missing filename"),
    (metadata(name="x.txt"), "Missing filename"),
    (metadata(filename=""), "Invalid name"),
    (metadata(filename="a/b"), "Invalid name"),
    (metadata(filename="a\\b"), "Invalid name"),
    (metadata(filename=".."), "Invalid name"),
    (metadata(filename="tab\there"), "Invalid name"),
    (metadata(filename="é" * 128), "Invalid name"),
    (metadata(filename=b"\xff\xfe"), "Invalid name"),
    ("filename not*base64", "not base64"),
    ("filename eA", "not base64"),  # padding missing
    (metadata(filename="x") + "," + metadata(filename="y"), "twice"),
    (metadata(filename="x") + ",", "key"),
    ("filename eA== extra", "key"),
    (" ,filename eA==", "key"),
    (metadata(filename="x", isPublic="yes"), "isPublic"),
    (metadata(filename="x", parentId="5f0c2b7e9a1d3c4b5a6f7e8d"), "Parent not found"),
    (metadata(filename="x", parentId="nope"), "Parent not found"),
    (metadata(filename="x", note="n" * 5000), "longer than"),
    (",".join(f"k{i} " for i in range(40)) + "," + metadata(filename="x"), "more than"),
])
async def test_malformed_metadata_is_400_and_creates_nothing(client, alice: Account, storage: Storage,
                                                             value: str | None, message: str):
    headers = tus(alice, Upload_Length="5")
    if value is not None:
        headers["Upload-Metadata"] = value
    resp = await client.post("/v2/uploads", headers={**headers, **CHUNK}, data=b"hello")
    body = await resp.json()
    assert_error(resp, body, 400, "invalid")
    assert message in body["error"], body
    assert (await storage.usage(alice.id)).reserved_bytes == 0
    assert (await (await client.get("/v2/files", headers=alice.headers)).json())["items"] == []


async def test_a_parent_that_is_a_file_is_refused(client, alice: Account):
    resp = await create(client, alice, 1, "a", body=b"a")
    file_id = resp.headers["File-Id"]
    resp = await client.post("/v2/uploads", headers=tus(alice, Upload_Length="1", Upload_Metadata=metadata(
        filename="b", parentId=file_id)))
    assert_error(resp, await resp.json(), 400, "invalid")
    assert (await resp.json())["error"] == "Parent is not a folder"


async def test_too_large_is_413_and_over_quota_507(client, alice: Account, storage: Storage,
                                                   backend_settings: Settings):
    max_size = backend_settings.storage.max_file_size
    resp = await create(client, alice, max_size + 1)
    assert_error(resp, await resp.json(), 413, "file_too_large")
    await storage.set_quota(alice.id, 1000)
    resp = await create(client, alice, max_size + 1)  # over both: 413
    assert resp.status == 413
    resp = await create(client, alice, 600)
    assert resp.status == 201
    resp = await create(client, alice, 401)  # 600 reserved + 401 > 1000
    assert_error(resp, await resp.json(), 507, "quota_exceeded")
    assert (await storage.usage(alice.id)).reserved_bytes == 600
    assert (await create(client, alice, 400)).status == 201


# ---------------------------------------------------------------- who may see what


async def test_every_request_needs_the_token_and_only_the_owner_sees_an_upload(client, alice: Account,
                                                                               bob: Account):
    url = await new_upload(client, alice, 10)
    for method in ("HEAD", "PATCH", "DELETE"):
        resp = await client.request(method, url, headers={**TUS, **CHUNK, "Upload-Offset": "0"}, data=b"x")
        assert resp.status == 401 and resp.headers["Tus-Resumable"] == "1.0.0"
        resp = await client.request(method, url, headers={**tus(bob, Upload_Offset="0"), **CHUNK}, data=b"x")
        assert resp.status == 404 and resp.headers["Tus-Resumable"] == "1.0.0"
    resp = await client.post("/v2/uploads", headers={**TUS, "Upload-Length": "1",
                                                     "Upload-Metadata": metadata(filename="x")})
    assert resp.status == 401
    bearer = {**TUS, "Authorization": f"Bearer {alice.token}"}
    assert (await client.head(url, headers=bearer)).status == 200
    for unknown in ("/v2/uploads/5f0c2b7e9a1d3c4b5a6f7e8d", "/v2/uploads/nope", "/v2/uploads/%00"):
        resp = await client.head(unknown, headers=tus(alice))
        assert resp.status == 404 and resp.headers["Tus-Resumable"] == "1.0.0"
    assert await offset_of(client, alice, url) == 0


async def test_the_token_as_a_bearer_authorization(client, alice: Account):
    """tus clients send the token as `Authorization: Bearer` (api-v2.md, "Auth"): a whole upload
    works that way; a wrong or empty bearer is 401 on every request, and changes nothing."""
    bearer = {**TUS, "Authorization": f"Bearer {alice.token}"}
    resp = await client.options("/v2/uploads", headers={"Authorization": f"Bearer {alice.token}"})
    assert resp.status == 204
    resp = await client.post("/v2/uploads", headers={**bearer, **CHUNK, "Upload-Length": "10",
                                                     "Upload-Metadata": metadata(filename="bearer.txt")},
                             data=b"01234")
    assert resp.status == 201, await resp.text()
    url = resp.headers["Location"]
    for wrong in (f"Bearer {alice.token}x", "Bearer ", "Bearer someone-elses", alice.token):
        headers = {**TUS, **CHUNK, "Authorization": wrong, "Upload-Offset": "5", "Upload-Length": "1",
                   "Upload-Metadata": metadata(filename="x")}
        for method, where in (("OPTIONS", "/v2/uploads"), ("POST", "/v2/uploads"), ("HEAD", url), ("PATCH", url),
                              ("DELETE", url)):
            resp = await client.request(method, where, headers=headers, data=b"56789" if method != "HEAD" else None)
            assert resp.status == 401, (method, wrong)
            assert resp.headers["Tus-Resumable"] == "1.0.0"
    assert (await client.head(url, headers=bearer)).headers["Upload-Offset"] == "5"
    resp = await client.patch(url, headers={**bearer, **CHUNK, "Upload-Offset": "5"}, data=b"56789")
    assert resp.status == 204, await resp.text()
    await assert_file(client, alice, resp.headers["File-Id"], b"0123456789", "bearer.txt")
    resp = await client.delete(url, headers=bearer)
    assert resp.status == 204


async def test_a_method_tus_does_not_have_is_405_with_tus_headers(client, alice: Account):
    url = await new_upload(client, alice, 10)
    resp = await client.get(url, headers=tus(alice))
    assert_error(resp, await resp.json(), 405)


# ---------------------------------------------------------------- termination and expiry


async def test_termination_forgets_the_upload_and_its_bytes(client, alice: Account, storage: Storage,
                                                            backend_settings: Settings):
    url = await new_upload(client, alice, 10)
    assert (await patch(client, alice, url, 0, b"01234")).status == 204
    assert part_size(backend_settings, url) == 5
    resp = await client.delete(url, headers=tus(alice))
    assert resp.status == 204 and resp.headers["Tus-Resumable"] == "1.0.0"
    assert not part_exists(backend_settings, url)
    assert (await storage.usage(alice.id)).reserved_bytes == 0
    for method in ("HEAD", "PATCH", "DELETE"):
        resp = await client.request(method, url, headers={**tus(alice, Upload_Offset="5"), **CHUNK}, data=b"5")
        assert resp.status == 404
    assert not part_exists(backend_settings, url)


async def test_terminating_a_finished_upload_keeps_its_file(client, alice: Account):
    resp = await create(client, alice, 3, "kept", body=b"abc")
    resp = await client.delete(resp.headers["Location"], headers=tus(alice))
    assert resp.status == 204
    items = (await (await client.get("/v2/files", headers=alice.headers)).json())["items"]
    assert [item["name"] for item in items] == ["kept"]


async def test_an_expired_upload_is_gone(client, alice: Account, storage: Storage, backend_settings: Settings):
    now = time.time()
    upload = await storage.create_upload(Upload(
        id="5f0c2b7e9a1d3c4b5a6f7e8d", user_id=alice.id, length=10, offset=0, name="old", parent_id=0,
        is_public=False, part_path=str(part_of(backend_settings, "/5f0c2b7e9a1d3c4b5a6f7e8d")),
        created_at=now - 100, expires_at=now - 1), None)
    url = f"/v2/uploads/{upload.id}"
    for method in ("HEAD", "PATCH"):
        resp = await client.request(method, url, headers={**tus(alice, Upload_Offset="0"), **CHUNK}, data=b"0")
        assert resp.status == 404


async def test_an_upload_complete_but_unfinished_is_finished_by_head(client, alice: Account, storage: Storage,
                                                                     backend_settings: Settings):
    """The request that completed it died between moving the offset and
    making the file: the client's HEAD (or retried PATCH) finishes it."""
    content = os.urandom(70_000)
    url = await new_upload(client, alice, len(content), "late.bin")
    write_part(backend_settings, url, content)
    upload_id = url.rsplit("/", 1)[1]
    assert await storage.set_upload_offset(upload_id, 0, len(content))
    head = await client.head(url, headers=tus(alice))
    assert head.status == 200 and head.headers["Upload-Offset"] == str(len(content))
    file_id = head.headers["File-Id"]
    await assert_file(client, alice, file_id, content, "late.bin")
    resp = await patch(client, alice, url, len(content), b"")
    assert resp.headers["File-Id"] == file_id


async def test_a_new_account_sees_no_uploads_of_others(client):
    first, second = await sign_up(client), await sign_up(client)
    url = await new_upload(client, first, 1)
    assert (await client.head(url, headers=tus(second))).status == 404
    assert (await client.head(url, headers=tus(first))).status == 200


# ---------------------------------------------------------------- hostile bytes

HOSTILE = [b"\xed\xa0\x80", b"\xff\xfe", b"abc\xc0\xaf", b"\x00", b"x" * 7000, b"%ED%A0%80", b"\xe2\x82",
           b"filename \xff\xfe==", b"filename eA==,\xed\xa0\x80 eA=="]
TUS_HEADERS = [b"Tus-Resumable", b"Upload-Length", b"Upload-Offset", b"Upload-Metadata", b"Upload-Checksum",
               b"Upload-Defer-Length", b"X-HTTP-Method-Override", b"Content-Type", b"Authorization"]


async def test_hostile_header_bytes_get_a_4xx_never_a_5xx(client, alice: Account):
    """Raw bytes no client library would send (invalid UTF-8, NUL, lone
    surrogates, over-long values) in every header tus reads, on every route."""
    url = (await new_upload(client, alice, 10)).encode()
    host, port = server_url(client).removeprefix("http://").split(":")
    base = {b"Tus-Resumable": b"1.0.0", b"X-Token": alice.token.encode(), b"Upload-Length": b"10",
            b"Upload-Offset": b"0", b"Upload-Metadata": b"filename eA==",
            b"Content-Type": b"application/offset+octet-stream"}
    failures = []
    for method, path in ((b"POST", b"/v2/uploads"), (b"OPTIONS", b"/v2/uploads"), (b"HEAD", url), (b"PATCH", url),
                         (b"DELETE", url), (b"POST", url)):
        for name in TUS_HEADERS:
            for value in HOSTILE:
                headers = {**base, name: value}
                body = b"0123456789" if method in (b"PATCH", b"POST") else b""
                raw = (method + b" " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                       + b"".join(k + b": " + v + b"\r\n" for k, v in headers.items())
                       + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
                reader, writer = await asyncio.open_connection(host, int(port))
                try:
                    writer.write(raw)
                    await writer.drain()
                    status = int((await asyncio.wait_for(reader.readline(), 30)).split()[1])
                finally:
                    writer.close()
                if status >= 500:
                    failures.append(f"{status} {method!r} {path!r} {name!r}: {value[:20]!r}")
    assert not failures, "\n".join(failures[:40])
    # None of it wrote a byte: the upload is where it was (or terminated by a DELETE that was well-formed).
    resp = await client.head(url.decode(), headers=tus(alice))
    assert resp.status in (200, 404)
    if resp.status == 200:
        assert int(resp.headers["Upload-Offset"]) in (0, 10)
