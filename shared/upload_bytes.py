"""Where a tus upload's bytes grow, whichever the blob store: a part file in
the folder (shared/upload_parts.py) or chunk objects in the bucket
(shared/s3_upload_parts.py). An upload keeps which in its `part_path`
(`s3://...` for chunks), so one begun before the content moved to S3 ends
as it began."""

from __future__ import annotations

import asyncio
import dataclasses

from redis.asyncio import Redis

from shared.blob_store import BlobStore
from shared.s3_blobs import S3Blobs
from shared.s3_upload_parts import ChunkPart, parts_location, remove_chunks, upload_id_of
from shared.storage import Upload
from shared.upload_lock import UploadLock, is_free
from shared.upload_parts import PartFile, probe_lock, remove_part


def in_store(part_path: str) -> bool:
    return part_path.startswith("s3://")


def placed(blobs: BlobStore, upload: Upload) -> Upload:
    """A new upload with its bytes where the store keeps them."""
    if isinstance(blobs, S3Blobs):
        return dataclasses.replace(upload, part_path=parts_location(blobs, upload.id))
    return upload


def _s3(blobs: BlobStore | None) -> S3Blobs:
    if not isinstance(blobs, S3Blobs):
        raise RuntimeError("an upload whose chunks are in S3, and no S3 store configured")
    return blobs


async def open_part(blobs: BlobStore, redis: Redis, upload: Upload) -> PartFile | ChunkPart:
    """The upload's part, ready for a chunk at its offset, held by this request
    (PartLost, Conflict as PartFile.open)."""
    if in_store(upload.part_path):
        return await ChunkPart.open(_s3(blobs), redis, upload.id, upload.offset)
    return await PartFile.open(upload.part_path, upload.offset)


async def writer_free(redis: Redis, upload: Upload) -> bool:
    """Whether no request writes the upload now."""
    if in_store(upload.part_path):
        return await is_free(redis, upload.id)
    return await asyncio.to_thread(probe_lock, upload.part_path)


async def remove_upload_bytes(blobs: BlobStore | None, part_path: str) -> None:
    """The bytes of a terminated or expired upload (gone already is fine)."""
    if in_store(part_path):
        await remove_chunks(_s3(blobs), upload_id_of(part_path))
    else:
        await asyncio.to_thread(remove_part, part_path)


async def hold_for_removal(redis: Redis, upload: Upload) -> PartFile | UploadLock | None:
    """Termination waits for no writer: held (Conflict while a chunk is
    being written) until its bytes are gone; None for a finished upload."""
    if upload.file_id is not None:
        return None
    if in_store(upload.part_path):
        lock = UploadLock(redis, upload.id)
        await lock.acquire()
        return lock
    return await PartFile.open(upload.part_path, 0)


async def let_go(held: PartFile | UploadLock | None) -> None:
    if isinstance(held, UploadLock):
        await held.release()
    elif held is not None:
        await held.close()
