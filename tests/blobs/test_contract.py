"""The blob-store contract (shared/blob_store.py): every case runs on both
implementations, the folder and S3 (moto's server over HTTP)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.blob_store import THUMBNAIL_WIDTHS, BlobStore, ServedAs, thumbnail_path
from shared.config import Settings
from shared.errors import NotFound, StorageUnavailable
from shared.open_blobs import open_blob_store
from shared.s3_blobs import S3Blobs
from shared.storage.base import blob_name
from tests.engines.s3 import S3Bucket, sync_client, with_s3

PART = 5 * 1024 * 1024  # the smallest part S3 takes


@pytest.fixture(params=["folder", "s3"])
async def blobs(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[BlobStore]:
    if request.param == "s3":
        settings = with_s3(settings, request.getfixturevalue("s3_bucket")).replace(blobs={"part_size": PART})
    async with open_blob_store(settings) as store:
        yield store


async def _read(blobs: BlobStore, location: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in blobs.read(location, start, end)])


async def _store(blobs: BlobStore, data: bytes, step: int = 64 * 1024) -> str:
    async with blobs.writer() as writer:
        for start in range(0, len(data), step):
            await writer.write(data[start:start + step])
        return await writer.commit()


@pytest.mark.parametrize("size", [0, 10, PART + 12345, 2 * PART])
async def test_a_blob_is_written_read_and_hashed(blobs, size):
    data = os.urandom(size)
    async with blobs.writer() as writer:
        for start in range(0, size, 100_000):
            await writer.write(data[start:start + 100_000])
        location = await writer.commit()
    assert location == writer.path == blobs.location(blob_name(location))
    assert writer.size == size and writer.head == data[:64]
    assert writer.sha256 == hashlib.sha256(data).hexdigest()
    assert await _read(blobs, location) == data
    info = await blobs.info(location)
    assert info.size == size and info.etag and info.modified > 0


async def test_ranges_are_read_as_asked(blobs):
    data = os.urandom(300_000)
    location = await _store(blobs, data)
    assert await _read(blobs, location, 5, 10) == data[5:10]
    assert await _read(blobs, location, 299_990) == data[299_990:]
    assert await _read(blobs, location, 7, 7) == b""


async def test_an_aborted_writer_leaves_nothing(blobs):
    async with blobs.writer() as writer:
        await writer.write(os.urandom(PART + 1))  # a multipart upload begun, on S3
        await writer.abort()
    assert [entry async for entry in blobs.listing()] == []
    with pytest.raises(NotFound):
        await blobs.info(writer.path)
    if isinstance(blobs, S3Blobs):
        listed = await blobs.client.list_multipart_uploads(Bucket=blobs.bucket)
        assert listed.get("Uploads", []) == []


async def test_an_error_inside_the_writer_leaves_nothing(blobs):
    with pytest.raises(ValueError):
        async with blobs.writer() as writer:
            await writer.write(os.urandom(2 * PART + 5))
            raise ValueError("the request went wrong")
    assert [entry async for entry in blobs.listing()] == []
    if isinstance(blobs, S3Blobs):
        listed = await blobs.client.list_multipart_uploads(Bucket=blobs.bucket)
        assert listed.get("Uploads", []) == []


async def test_a_cancelled_write_leaves_nothing(blobs):
    started = asyncio.Event()

    async def upload() -> None:
        async with blobs.writer() as writer:
            await writer.write(os.urandom(PART + 1))
            started.set()
            await asyncio.Event().wait()  # a client that never sends the rest

    task = asyncio.create_task(upload())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [entry async for entry in blobs.listing()] == []
    if isinstance(blobs, S3Blobs):
        listed = await blobs.client.list_multipart_uploads(Bucket=blobs.bucket)
        assert listed.get("Uploads", []) == []


async def test_missing_blobs_are_not_found(blobs):
    location = blobs.location("0b7c2a1e-1111-4222-8333-944455556666")
    with pytest.raises(NotFound):
        await blobs.info(location)
    with pytest.raises(NotFound):
        await _read(blobs, location)
    await blobs.remove(location)  # gone already is fine


async def test_removal_takes_the_thumbnails_too(blobs, tmp_path: Path):
    location = await _store(blobs, b"original")
    source = tmp_path / "thumb"
    source.write_bytes(b"thumbnail")
    for width in THUMBNAIL_WIDTHS:
        await blobs.put_file(thumbnail_path(location, width), str(source))
    kept = await _store(blobs, b"another")
    names = sorted(entry.name for entry in [e async for e in blobs.listing()])
    assert names == sorted([blob_name(location), blob_name(kept),
                            *(f"{blob_name(location)}_{w}" for w in THUMBNAIL_WIDTHS)])
    assert await _read(blobs, thumbnail_path(location, 250)) == b"thumbnail"
    await blobs.remove(location)
    assert [entry.name async for entry in blobs.listing()] == [blob_name(kept)]


async def test_files_go_in_and_out_whole(blobs, tmp_path: Path):
    data = os.urandom(PART + 99)
    (tmp_path / "in").write_bytes(data)
    location = blobs.location("5d1e0f3a-2222-4333-8444-aaaabbbbcccc")
    await blobs.put_file(location, str(tmp_path / "in"))
    await blobs.fetch_file(location, str(tmp_path / "out"))
    assert (tmp_path / "out").read_bytes() == data
    with pytest.raises(NotFound):
        await blobs.fetch_file(blobs.location("5d1e0f3a-2222-4333-8444-000000000000"), str(tmp_path / "x"))


async def test_listed_files_are_removed_by_name(blobs):
    first, second = await _store(blobs, b"1"), await _store(blobs, b"22")
    listed = {entry.name: entry async for entry in blobs.listing()}
    assert {name: entry.size for name, entry in listed.items()} == {blob_name(first): 1, blob_name(second): 2}
    assert await blobs.remove_files([blob_name(first)]) == 1
    assert [entry.name async for entry in blobs.listing()] == [blob_name(second)]


async def test_the_store_answers_its_check(blobs):
    await blobs.check()


async def test_presigned_urls_carry_the_headers(blobs):
    import aiohttp

    location = await _store(blobs, b"<svg/>")
    served = ServedAs("image/svg+xml", 'attachment; filename="a.svg"', "private, max-age=0")
    url = await blobs.presigned_url(location, served, 60)
    if not isinstance(blobs, S3Blobs):
        assert url is None  # the folder's content is served by the API itself
        return
    assert url is not None
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 200
        assert await resp.read() == b"<svg/>"
        assert resp.headers["Content-Type"] == "image/svg+xml"
        assert resp.headers["Content-Disposition"] == 'attachment; filename="a.svg"'
        assert resp.headers["Cache-Control"] == "private, max-age=0"


async def test_a_missing_bucket_is_said_plainly(settings: Settings, s3_bucket: S3Bucket):
    client = sync_client(s3_bucket.server)
    client.delete_bucket(Bucket=s3_bucket.name)
    client.close()
    async with open_blob_store(with_s3(settings, s3_bucket)) as store:
        with pytest.raises(StorageUnavailable, match="does not exist"):
            await store.check()
        with pytest.raises(StorageUnavailable, match="does not exist"):
            await _store(store, b"x")


async def test_a_store_that_does_not_answer_is_unavailable(settings: Settings, s3_bucket: S3Bucket):
    from tests.conftest import free_port

    settings = with_s3(settings, s3_bucket).replace(storage={"s3_endpoint_url": f"http://127.0.0.1:{free_port()}"})
    async with open_blob_store(settings) as store:
        with pytest.raises(StorageUnavailable):
            await store.check()
        with pytest.raises(StorageUnavailable):
            await store.info(store.location("0b7c2a1e-1111-4222-8333-944455556666"))


async def test_open_gives_the_info_and_the_bytes_at_once(blobs):
    data = os.urandom(3 * 64 * 1024 + 7)
    location = await _store(blobs, data)
    info, chunks = await blobs.open(location)
    assert info == await blobs.info(location)
    assert info.size == len(data)
    assert b"".join([chunk async for chunk in chunks]) == data
    _, unread = await blobs.open(location)
    await unread.aclose()  # not read after all: nothing held
    with pytest.raises(NotFound):
        await blobs.open(blobs.location("0b7c2a1e-1111-4222-8333-944455556666"))
