"""Content and thumbnails in an S3-compatible object store (AWS, MinIO, Ceph,
R2...), through aiobotocore: one client per process, made by the composition
root (shared/open_blobs.py).

A blob is the object `<prefix>/<uuid>` of `storage.blob_url`'s bucket, its
thumbnails `<prefix>/<uuid>_<width>`; documents keep `s3://bucket/prefix/<uuid>`
as their location. Hidden names (`<prefix>/.uploads/...`, tus chunks) are
never listed as blobs.

Writes stream through `S3BlobWriter` (shared/s3_writer.py); botocore's
errors become the domain's in `s3_errors` (shared/s3_errors.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError

from shared.blob_store import (
    THUMBNAIL_WIDTHS,
    WRITE_BATCH,
    BlobInfo,
    ListedBlob,
    ServedAs,
    thumbnail_path,
)
from shared.errors import NotFound, StorageUnavailable
from shared.s3_errors import error_code, s3_errors
from shared.s3_writer import S3BlobWriter

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
else:
    S3Client = Any

READ_CHUNK = 256 * 1024  # bytes per read of a streamed download
_DELETE_BATCH = 1000  # keys per DeleteObjects, S3's limit


class S3Blobs:
    """The blob store in a bucket, under a prefix (see the module's docstring)."""

    def __init__(self, client: S3Client, bucket: str, prefix: str, part_size: int) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.part_size = part_size
        self._base = f"s3://{bucket}/"

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def location(self, name: str) -> str:
        return self._base + self.key(name)

    def key_of(self, location: str) -> str:
        """The object key of a location; a location of another form (a path
        kept from when content lived in a folder) names the blob of its last
        component here."""
        if location.startswith(self._base):
            return location[len(self._base):]
        return self.key(location.replace("\\", "/").rsplit("/", 1)[-1])

    def writer(self, batch: int = WRITE_BATCH) -> S3BlobWriter:
        return S3BlobWriter(self)

    def local_file(self, location: str) -> str | None:
        return None

    async def info(self, location: str) -> BlobInfo:
        with s3_errors(self.bucket):
            head = await self.client.head_object(Bucket=self.bucket, Key=self.key_of(location))
        return BlobInfo(head["ContentLength"], head["ETag"].strip('"'), head["LastModified"].timestamp())

    async def read(self, location: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        if end is not None and end <= start:
            return
        key = self.key_of(location)
        with s3_errors(self.bucket):
            if start or end is not None:
                asked = f"bytes={start}-{'' if end is None else end - 1}"
                got = await self.client.get_object(Bucket=self.bucket, Key=key, Range=asked)
            else:
                got = await self.client.get_object(Bucket=self.bucket, Key=key)
        body = _Body(got["Body"], self.bucket)
        try:
            async for chunk in body:
                yield chunk
        finally:
            await body.aclose()

    async def open(self, location: str) -> tuple[BlobInfo, AsyncIterator[bytes]]:
        """One GetObject: its answer's headers are the blob's info (a download
        costs one request to the store, not a HeadObject and then a GetObject)."""
        with s3_errors(self.bucket):
            got = await self.client.get_object(Bucket=self.bucket, Key=self.key_of(location))
        info = BlobInfo(got["ContentLength"], got["ETag"].strip('"'), got["LastModified"].timestamp())
        return info, _Body(got["Body"], self.bucket)

    async def presigned_url(self, location: str, served: ServedAs, expiry: int) -> str | None:
        with s3_errors(self.bucket):
            return await self.client.generate_presigned_url(
                "get_object", ExpiresIn=expiry,
                Params={"Bucket": self.bucket, "Key": self.key_of(location),
                        "ResponseContentType": served.content_type,
                        "ResponseContentDisposition": served.content_disposition,
                        "ResponseCacheControl": served.cache_control})

    async def put_file(self, location: str, path: str) -> None:
        await self.put_stream(location, _file_chunks(path))

    async def put_stream(self, location: str, chunks: AsyncIterator[bytes]) -> S3BlobWriter:
        """Store `chunks` as the object at `location` (multipart when large);
        the writer, committed, says its size, head and sha256."""
        async with S3BlobWriter(self, location) as writer:
            async for chunk in chunks:
                await writer.write(chunk)
            await writer.commit()
        return writer

    async def fetch_file(self, location: str, path: str) -> None:
        fh = await asyncio.to_thread(open, path, "wb")
        try:
            async for chunk in self.read(location):
                await asyncio.to_thread(fh.write, chunk)
        finally:
            await asyncio.to_thread(fh.close)

    async def remove(self, location: str) -> None:
        key = self.key_of(location)
        await self._delete([key, *(thumbnail_path(key, width) for width in THUMBNAIL_WIDTHS)])

    async def remove_files(self, names: list[str]) -> int:
        return await self._delete([self.key(name) for name in names])

    async def _delete(self, keys: list[str]) -> int:
        removed = 0
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start:start + _DELETE_BATCH]
            with s3_errors(self.bucket):
                done = await self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": False})
            if done.get("Errors"):
                first = done["Errors"][0]
                raise StorageUnavailable(f"the object store kept {first.get('Key')}: {first.get('Code')}")
            removed += len(done.get("Deleted", []))
        return removed

    async def listing(self) -> AsyncIterator[ListedBlob]:
        """The objects directly under the prefix; `.uploads/` and other
        "folders" are left out by the delimiter."""
        start = f"{self.prefix}/" if self.prefix else ""
        pages = aiter(self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=start, Delimiter="/"))
        while True:
            with s3_errors(self.bucket):
                try:
                    page = await anext(pages)
                except StopAsyncIteration:
                    return
            for item in page.get("Contents", []):
                name = item["Key"][len(start):]
                if name and not name.startswith("."):
                    yield ListedBlob(name, item["LastModified"].timestamp(), item["Size"])

    async def abandoned_uploads(self, older_than: float) -> int:
        """Abort the multipart uploads under the prefix begun more than
        `older_than` seconds ago (a process killed mid-write left them); how many."""
        cutoff = time.time() - older_than
        start = f"{self.prefix}/" if self.prefix else ""
        aborted = 0
        with s3_errors(self.bucket):
            listed = await self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=start)
            for upload in listed.get("Uploads", []):
                if upload["Initiated"].timestamp() <= cutoff:
                    with contextlib.suppress(ClientError):
                        await self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"],
                                                                 UploadId=upload["UploadId"])
                        aborted += 1
        return aborted

    async def check(self) -> None:
        try:
            await self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = error_code(exc)
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise StorageUnavailable(f"the bucket {self.bucket!r} does not exist") from None
            if code in ("403", "AccessDenied", "Forbidden"):
                raise StorageUnavailable(f"access to the bucket {self.bucket!r} is denied") from None
            raise StorageUnavailable(f"the object store refused: {code or exc}") from None
        except (TimeoutError, BotoCoreError, aiohttp.ClientError, OSError) as exc:
            raise StorageUnavailable(f"the object store does not answer: {exc}") from None


async def _file_chunks(path: str) -> AsyncIterator[bytes]:
    try:
        fh = await asyncio.to_thread(open, path, "rb")
    except FileNotFoundError:
        raise NotFound() from None
    try:
        while data := await asyncio.to_thread(fh.read, WRITE_BATCH):
            yield data
    finally:
        await asyncio.to_thread(fh.close)


def region() -> str | None:
    """The region of the standard variables: botocore reads AWS_DEFAULT_REGION
    itself but not AWS_REGION, which the other SDKs (and our docs) use."""
    return os.environ.get("AWS_REGION") or None


class _Body:
    """A GetObject answer's bytes as they arrive; `aclose` frees its
    connection whether or not they were read (a generator that never started
    would not run its clean-up)."""

    def __init__(self, body: Any, bucket: str) -> None:
        self._body = body
        self._bucket = bucket
        self._chunks = body.iter_chunks(READ_CHUNK)

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        with s3_errors(self._bucket):
            return bytes(await anext(self._chunks))

    async def aclose(self) -> None:
        self._body.close()
