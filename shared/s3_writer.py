"""One object written to S3 as its bytes arrive: gathered into parts of
`blobs.part_size` and sent as a multipart upload (one PutObject when
everything fits in one part), the SHA-256 computed on the way (in a thread
while the part travels). Anything but a commit aborts the multipart upload,
shielded from cancellation, so no parts stay behind (and deletes the object
when a commit was under way)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from typing import TYPE_CHECKING, Any

from shared.blob_store import HEAD_BYTES
from shared.errors import NotFound, StorageFull, StorageUnavailable
from shared.s3_errors import s3_errors

if TYPE_CHECKING:
    from shared.s3_blobs import S3Blobs

_HASH_INLINE = 256 * 1024  # smaller than this is hashed on the loop; a thread hop costs more


async def _hash(hasher: Any, data: bytes) -> None:
    if len(data) < _HASH_INLINE:
        hasher.update(data)
    else:
        await asyncio.to_thread(hasher.update, data)  # hashlib releases the GIL


class S3BlobWriter:
    """One object written as its bytes arrive (see the module's docstring)."""

    def __init__(self, store: S3Blobs, location: str | None = None) -> None:
        self._store = store
        # A fresh name is ours alone: a failed commit may delete what it left.
        # A given location (a thumbnail, a finished upload's blob) may be
        # another writer's already, with the same bytes: never deleted here.
        self._fresh = location is None
        self.path = location or store.location(str(uuid.uuid4()))
        self.key = store.key_of(self.path)
        self.size = 0
        self.head = b""
        self._hash = hashlib.sha256()
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._state = "open"  # open -> committing -> done, or aborted

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    async def write(self, data: bytes) -> None:
        if not data or self._state != "open":
            return
        if len(self.head) < HEAD_BYTES:
            self.head += data[:HEAD_BYTES - len(self.head)]
        self._buffer.append(data)
        self._buffered += len(data)
        self.size += len(data)
        if self._buffered >= self._store.part_size:
            await self._send_part()

    async def commit(self) -> str:
        """The object complete under its key; returns its location."""
        if self._state != "open":
            raise RuntimeError(f"commit of a blob writer that is {self._state}")
        self._state = "committing"
        store = self._store
        try:
            with s3_errors(store.bucket):
                if self._upload_id is None:
                    body = self._take()
                    await _hash(self._hash, body)
                    await store.client.put_object(Bucket=store.bucket, Key=self.key, Body=body)
                else:
                    if self._buffered:
                        await self._send_part()
                    await store.client.complete_multipart_upload(
                        Bucket=store.bucket, Key=self.key, UploadId=self._upload_id,
                        MultipartUpload={"Parts": self._parts})  # type: ignore[typeddict-item]
        except BaseException:
            await self.abort()
            raise
        self._state = "done"
        return self.path

    async def abort(self) -> None:
        """Drop everything written (idempotent; a no-op after commit). Runs to
        its end even when the request awaiting it is cancelled."""
        if self._state in ("done", "aborted"):
            return
        committing = self._state == "committing" and self._fresh
        self._state = "aborted"
        self._buffer, self._buffered = [], 0
        if self._upload_id is None and not committing:
            return
        await asyncio.shield(asyncio.ensure_future(self._clean_up(committing)))

    async def __aenter__(self) -> S3BlobWriter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.abort()

    def _take(self) -> bytes:
        body = b"".join(self._buffer)
        self._buffer, self._buffered = [], 0
        return body

    async def _send_part(self) -> None:
        store = self._store
        body = self._take()
        try:
            with s3_errors(store.bucket):
                if self._upload_id is None:
                    created = await store.client.create_multipart_upload(Bucket=store.bucket, Key=self.key)
                    self._upload_id = created["UploadId"]
                number = len(self._parts) + 1
                # The hash runs in a thread while the part travels.
                _, sent = await asyncio.gather(
                    _hash(self._hash, body),
                    store.client.upload_part(Bucket=store.bucket, Key=self.key, UploadId=self._upload_id,
                                             PartNumber=number, Body=body))
            self._parts.append({"ETag": sent["ETag"], "PartNumber": number})
        except BaseException:
            if self._state == "open":
                await self.abort()
            raise

    async def _clean_up(self, committing: bool) -> None:
        store = self._store
        with contextlib.suppress(NotFound, StorageUnavailable, StorageFull), s3_errors(store.bucket):
            if self._upload_id is not None:
                await store.client.abort_multipart_upload(Bucket=store.bucket, Key=self.key,
                                                          UploadId=self._upload_id)
        if committing:  # a PutObject or completion may have gone through before the failure
            with contextlib.suppress(NotFound, StorageUnavailable, StorageFull), s3_errors(store.bucket):
                await store.client.delete_object(Bucket=store.bucket, Key=self.key)
