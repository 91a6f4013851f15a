"""The two steps of a tus upload that move bytes: taking in a chunk (PATCH, or
the body of a creation-with-upload POST) and completing the upload.

A chunk goes to the part file at the stored offset, under the part's lock;
once its bytes are fsynced the stored offset moves, compare-and-set, so the
part file and the offset never disagree. What a chunk that ends early keeps:

- a client that goes away (or stalls past server.body_timeout) mid-PATCH
  keeps the bytes that arrived, as tus asks ("store as much of the received
  data as possible"): the next HEAD says where the upload stands;
- a chunk with an Upload-Checksum keeps nothing unless all of it came and
  matched (460 otherwise): a part of a chunk cannot be verified;
- a chunk past Upload-Length, a full disk, or a creation request whose body
  broke (nobody knows that upload's URL yet) keeps nothing.

Completion (offset == length) makes the part the blob (fsync, rename), takes
the type from the first bytes and creates the file with storage.finish_upload,
which does so at most once: completing again after a crash or a retried last
PATCH returns the same file.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from dataclasses import dataclass

from aiohttp import web

from shared.blob_store import BlobStore
from shared.domain.sniff import HEAD_SIZE, kind_of
from shared.domain.uploads import CHECKSUM_ALGORITHMS, upload_blob_name
from shared.errors import ChecksumMismatch, Conflict, Invalid, NotFound
from shared.jobs import thumbnails_job
from shared.s3_blobs import S3Blobs
from shared.s3_upload_parts import ChunkPart, assemble
from shared.storage import NewFile, Upload
from shared.upload_bytes import in_store, open_part, remove_upload_bytes
from shared.upload_parts import PartFile, PartLost, place, read_head, sha256_of

from .bodies import BodyReader
from .keys import BLOBS, ENQUEUER, REDIS, RUNNING_HASHES, STORAGE
from .metrics import record_upload


@dataclass(frozen=True, slots=True)
class Received:
    offset: int  # the upload's offset after the chunk
    file_id: str | None  # set when the chunk completed the upload


async def receive(request: web.Request, upload: Upload, checksum: tuple[str, bytes] | None,
                  *, keep_partial: bool) -> Received:
    """Take in the request's body as the chunk at `upload.offset`."""
    storage = request.app[STORAGE]
    hashes = request.app[RUNNING_HASHES]
    blobs = request.app[BLOBS]
    try:
        part = await open_part(blobs, request.app[REDIS], upload)
    except PartLost:
        raise NotFound("Upload not found: its bytes are gone") from None
    try:
        # Under the lock: the offset read before it may have moved since.
        current = await storage.upload_of_user(upload.user_id, upload.id)
        if current is None:  # terminated or purged meanwhile: leave no part behind
            await remove_upload_bytes(blobs, upload.part_path)
            raise NotFound("Upload not found")
        if current.offset != upload.offset:
            raise Conflict(f"Upload-Offset {upload.offset} is not the upload's offset {current.offset}")
        running = hashes.at(upload.id, upload.offset)
        chunk_hash = CHECKSUM_ALGORITHMS[checksum[0]]() if checksum else None
        part.hashers = [h for h in (running, chunk_hash) if h is not None]
        ended_early = await _take_body(request, part, upload.length - upload.offset)
        if ended_early is not None and (not keep_partial or checksum is not None):
            await part.rollback()
            raise ended_early
        if chunk_hash is not None and checksum is not None:
            await part.flush()  # every byte through the hasher
            if chunk_hash.digest() != checksum[1]:
                await part.rollback()
                raise ChecksumMismatch()
        try:
            new_offset = await _commit(request, part, upload)
        except Conflict:
            if await storage.upload_of_user(upload.user_id, upload.id) is None:  # terminated or expired
                await remove_upload_bytes(blobs, upload.part_path)
                raise NotFound("Upload not found") from None
            raise
        if running is not None:
            hashes.put(upload.id, new_offset, running)
        if ended_early is not None:
            raise ended_early  # the bytes that came are kept; the client is told, if still there
        file_id = None
        if new_offset == upload.length:
            file_id = await complete(request, upload, running.hexdigest() if running is not None else None)
        return Received(new_offset, file_id)
    finally:
        await part.close()


async def _take_body(request: web.Request, part: PartFile | ChunkPart, remaining: int) -> BaseException | None:
    """Write the body to the part; returns how it broke off when the client
    did not send it all (gone, stalled, cancelled), else None. Anything of
    ours (disk full) or of the client's making (past the length) drops the chunk."""
    try:
        async with BodyReader(request, remaining, streamed=True) as body:
            chunks = aiter(body)
            while True:
                try:
                    data = await anext(chunks)
                except StopAsyncIteration:
                    return None
                except (Invalid, web.HTTPRequestTimeout, asyncio.CancelledError) as exc:
                    return exc  # a broken or stalled body (413 past the length is raised as is)
                record_upload(len(data))
                await part.write(data)
    except BaseException:
        await part.rollback()
        raise


async def _commit(request: web.Request, part: PartFile | ChunkPart, upload: Upload) -> int:
    """fsync the chunk, then move the stored offset (shielded: a request
    cancelled meanwhile still leaves the two in agreement)."""
    async def commit() -> int:
        await part.sync()
        new_offset = upload.offset + part.written
        if new_offset != upload.offset and not await request.app[STORAGE].set_upload_offset(
                upload.id, upload.offset, new_offset):
            await part.rollback()
            raise Conflict("The upload moved on meanwhile")
        return new_offset

    return await asyncio.shield(asyncio.ensure_future(commit()))


async def complete(request: web.Request, upload: Upload, sha256: str | None) -> str:
    """The file the complete `upload` became (made now, or by an earlier call)."""
    if upload.file_id is not None:
        return upload.file_id
    app = request.app
    blobs = app[BLOBS]
    content = blobs.location(upload_blob_name(upload.id))
    try:
        if in_store(upload.part_path):
            sha256, head = await _assemble(blobs, upload, content)
        elif blobs.local_file(content) is not None:
            await asyncio.to_thread(place, upload.part_path, content, upload.length)
            if sha256 is None:  # the chunks went through another process, or this one restarted
                sha256 = await asyncio.to_thread(sha256_of, content, upload.length)
            head = await asyncio.to_thread(read_head, content, HEAD_SIZE)
        else:
            sha256, head = await _store_part(blobs, upload, content, sha256)
    except PartLost:
        raise NotFound("Upload not found: its bytes are gone") from None
    kind, mime_type = kind_of(head, upload.name)
    new = NewFile(upload.user_id, upload.name, kind, upload.is_public, upload.parent_id, content,
                  size=upload.length, sha256=sha256, mime_type=mime_type)
    record = await app[STORAGE].finish_upload(upload.id, new, time.time())
    app[RUNNING_HASHES].forget(upload.id)
    if blobs.local_file(content) is None:  # the part was copied, not renamed
        await remove_upload_bytes(blobs, upload.part_path)
    if record.type == "image" and not record.has_thumbnails:
        await app[ENQUEUER].enqueue(thumbnails_job(record.id, record.user_id))
    return record.id


async def _store_part(blobs: BlobStore, upload: Upload, content: str, sha256: str | None) -> tuple[str, bytes]:
    """The part copied to the blob store (idempotent: when the part is gone
    and the blob is there, an earlier call got this far); its hash and head."""
    part = upload.part_path
    if await asyncio.to_thread(os.path.exists, part):
        if sha256 is None:
            sha256 = await asyncio.to_thread(sha256_of, part, upload.length)
        head = await asyncio.to_thread(read_head, part, HEAD_SIZE)
        await blobs.put_file(content, part)
        return sha256, head
    return await _stored_already(blobs, upload, content)


async def _assemble(blobs: BlobStore, upload: Upload, content: str) -> tuple[str, bytes]:
    """The chunks in S3 streamed into the blob (idempotent as _store_part)."""
    assert isinstance(blobs, S3Blobs)
    writer = await assemble(blobs, upload.id, upload.length, content)
    if writer is not None:
        return writer.sha256, writer.head[:HEAD_SIZE]
    return await _stored_already(blobs, upload, content)


async def _stored_already(blobs: BlobStore, upload: Upload, content: str) -> tuple[str, bytes]:
    """No bytes left to move: an empty upload (its empty blob made now), or
    one an earlier call stored (its hash and head read back); else PartLost."""
    if not upload.length:
        await blobs.put_file(content, os.devnull)
        return hashlib.sha256().hexdigest(), b""
    try:
        await blobs.info(content)
    except NotFound:
        raise PartLost(upload.part_path) from None
    digest = hashlib.sha256()
    head = b""
    async for chunk in blobs.read(content):
        if len(head) < HEAD_SIZE:
            head += chunk[:HEAD_SIZE - len(head)]
        await asyncio.to_thread(digest.update, chunk)
    return digest.hexdigest(), head
