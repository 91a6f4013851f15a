"""The blob store `storage.blob_url` chooses, opened for the life of a process
(each composition root opens one: the API's app, the job worker, the CLI)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from shared.blob_store import BlobStore
from shared.blobs import FolderBlobs
from shared.config import Settings, blob_location

# Connections to the object store one process may hold: requests beyond wait.
MAX_CONNECTIONS = 64


@contextlib.asynccontextmanager
async def open_blob_store(settings: Settings) -> AsyncIterator[BlobStore]:
    """The folder (made if missing), or the S3 bucket through one aiobotocore
    client, closed when the block ends. Nothing is asked of the bucket here:
    a store that does not answer yet must not stop a process from starting
    (/readyz and `check` say so)."""
    storage = settings.storage
    if not storage.blob_url:
        folder = FolderBlobs(storage.folder_path)
        await asyncio.to_thread(folder.ensure_folder)
        yield folder
        return
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    from shared.s3_blobs import S3Blobs, region

    bucket, prefix = blob_location(storage.blob_url)
    config = AioConfig(
        s3={"addressing_style": settings.blobs.s3_addressing_style},
        signature_version="s3v4",
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5, read_timeout=60,
        max_pool_connections=MAX_CONNECTIONS,
        # Checksums only where the API asks for them: the CRC headers botocore
        # adds by default are refused by several S3-compatible stores.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    async with get_session().create_client("s3", endpoint_url=storage.s3_endpoint_url or None,
                                           region_name=region(), config=config) as client:
        yield S3Blobs(client, bucket, prefix, settings.blobs.part_size)
