"""The bytes of resumable (tus) uploads when content lives in S3: nothing on
the node, so an upload begun through one node is resumed through any other.

Each chunk (the body of one PATCH, or what of it arrived) is an object
`<prefix>/.uploads/<upload id>/<start offset, 20 digits>-<random>`, written
as it streams (multipart past one part). Only the stored offset says which
bytes count: a chunk becomes part of the upload when the compare-and-set of
the offset from `start` to `start + size` succeeds (the caller's, as for a
part file); one whose CAS fails is deleted. So two writers racing on one
upload, on two nodes, both stream, and the one whose CAS comes second gets
a Conflict and leaves nothing. A writer that dies mid-chunk leaves a
multipart upload (the orphan sweep aborts it) or, between its object and its
CAS, an object the offset never covered: the next writer at that offset
writes its own (another random name), and at completion the chain of
chunks from 0 to the length is taken (`chain`): every chunk holds the bytes
the client sent for those offsets, so any chain that ends exactly at the
length is the content. Completion streams the chain into the final blob and
removes the chunks; an expired or terminated upload's chunks are removed by
prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from shared.blob_store import WRITE_BATCH
from shared.errors import NotFound, StorageUnavailable
from shared.s3_blobs import S3Blobs
from shared.s3_errors import s3_errors
from shared.s3_writer import S3BlobWriter
from shared.upload_lock import UploadLock
from shared.upload_parts import BatchedChunk, PartLost

PARTS = ".uploads"
_DIGITS = 20


@dataclass(frozen=True, slots=True)
class Chunk:
    key: str
    start: int
    size: int


def upload_prefix(blobs: S3Blobs, upload_id: str) -> str:
    return blobs.key(f"{PARTS}/{upload_id}/")


def parts_location(blobs: S3Blobs, upload_id: str) -> str:
    """What an upload keeps as its `part_path` when its bytes are chunks in S3."""
    return blobs.location(f"{PARTS}/{upload_id}")


def upload_id_of(part_path: str) -> str:
    return part_path.rstrip("/").rsplit("/", 1)[-1]


async def list_chunks(blobs: S3Blobs, upload_id: str) -> list[Chunk]:
    prefix = upload_prefix(blobs, upload_id)
    chunks: list[Chunk] = []
    pages = aiter(blobs.client.get_paginator("list_objects_v2").paginate(Bucket=blobs.bucket, Prefix=prefix))
    while True:
        with s3_errors(blobs.bucket):
            try:
                page = await anext(pages)
            except StopAsyncIteration:
                break
        for item in page.get("Contents", []):
            start = item["Key"][len(prefix):].split("-", 1)[0]
            if start.isdigit():
                chunks.append(Chunk(item["Key"], int(start), item["Size"]))
    return chunks


def chain(chunks: list[Chunk], end: int) -> list[Chunk] | None:
    """Chunks that follow one another from 0 to exactly `end` (None: there
    are none). Depth first, longest chunks first: a stale chunk that leads
    nowhere is passed over."""
    by_start: dict[int, list[Chunk]] = {}
    for chunk in chunks:
        if chunk.size > 0:
            by_start.setdefault(chunk.start, []).append(chunk)
    for candidates in by_start.values():
        candidates.sort(key=lambda c: -c.size)
    found: list[Chunk] = []
    stack: list[tuple[int, int]] = [(0, 0)]  # (position, index of the next candidate to try)
    while stack:
        position, index = stack[-1]
        if position == end:
            return found
        candidates = [c for c in by_start.get(position, []) if position + c.size <= end]
        if index >= len(candidates):
            stack.pop()
            if found:
                found.pop()
            continue
        stack[-1] = (position, index + 1)
        found.append(candidates[index])
        stack.append((position + candidates[index].size, 0))
    return None


class ChunkPart(BatchedChunk):
    """One request's chunk of an upload, as `shared.upload_parts.PartFile` is
    for a part file (the same calls, so tus_chunks.receive takes either):
    `write`, then `sync` (the chunk object complete) or `rollback`; `close`."""

    def __init__(self, blobs: S3Blobs, upload_id: str, offset: int, lock: UploadLock) -> None:
        super().__init__()
        self.offset = offset
        self._lock = lock
        self._blobs = blobs
        key = f"{upload_prefix(blobs, upload_id)}{offset:0{_DIGITS}d}-{secrets.token_hex(8)}"
        self._writer = S3BlobWriter(blobs, blobs.location(key[len(blobs.key("")):]))
        self._committed = False

    @classmethod
    async def open(cls, blobs: S3Blobs, redis: Redis, upload_id: str, offset: int) -> ChunkPart:
        """Conflict when another request writes the upload (shared/upload_lock.py);
        PartLost when the chunks stored do not reach `offset` (purged meanwhile)."""
        lock = UploadLock(redis, upload_id)
        await lock.acquire()
        try:
            if offset and chain(await list_chunks(blobs, upload_id), offset) is None:
                raise PartLost(upload_id)
        except BaseException:
            await lock.release()
            raise
        return cls(blobs, upload_id, offset, lock)

    async def sync(self) -> None:
        """The chunk is a complete object (nothing to store when empty)."""
        await self._flush()
        if self.written and not self._committed:
            await self._writer.commit()
            self._committed = True

    async def rollback(self) -> None:
        self._forget()
        await self._writer.abort()
        if self._committed:
            self._committed = False
            await asyncio.shield(asyncio.ensure_future(self._delete()))

    async def close(self) -> None:
        """Drop an uncommitted chunk and free the upload (idempotent)."""
        try:
            if not self._committed:
                await self._writer.abort()
        finally:
            await self._lock.release()

    async def _hand_over(self, batch: list[bytes]) -> None:
        joined = b"".join(batch)
        for hasher in self.hashers:
            await asyncio.to_thread(hasher.update, joined)
        await self._writer.write(joined)

    async def _delete(self) -> None:
        with contextlib.suppress(NotFound, StorageUnavailable), s3_errors(self._blobs.bucket):
            await self._blobs.client.delete_object(Bucket=self._blobs.bucket, Key=self._writer.key)


async def assemble(blobs: S3Blobs, upload_id: str, length: int, location: str) -> S3BlobWriter | None:
    """The upload's chunks streamed, in order, into the blob at `location`;
    the committed writer (size, head, sha256), or None when there are no
    chunks to take (an empty upload, or an earlier call got this far)."""
    found = chain(await list_chunks(blobs, upload_id), length) if length else None
    if found is None:
        return None

    async def content() -> Any:
        for chunk in found:
            with s3_errors(blobs.bucket):
                got = await blobs.client.get_object(Bucket=blobs.bucket, Key=chunk.key)
            body = got["Body"]
            try:
                stream = body.iter_chunks(WRITE_BATCH)
                while True:
                    with s3_errors(blobs.bucket):
                        try:
                            data = await anext(stream)
                        except StopAsyncIteration:
                            break
                    yield data
            finally:
                body.close()

    return await blobs.put_stream(location, content())


async def remove_chunks(blobs: S3Blobs, upload_id: str) -> int:
    """Every chunk of the upload (gone already is fine); how many."""
    keys = [chunk.key for chunk in await list_chunks(blobs, upload_id)]
    prefix_length = len(blobs.key(""))
    return await blobs.remove_files([key[prefix_length:] for key in keys]) if keys else 0
