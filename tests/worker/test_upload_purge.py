"""Expired tus uploads are removed by the worker's periodic purge: the record
and the bytes of an unfinished one; a finished one's record only (its bytes
are its file's blob now); uploads still within their time are left alone."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from shared.config import Settings
from shared.domain.uploads import parts_folder
from shared.storage import ROOT, NewFile, Storage, Upload, new_id
from tests.conftest import until


def _upload(settings: Settings, user_id: str, expires_at: float, length: int = 5) -> Upload:
    upload_id = new_id()
    part = parts_folder(settings.storage.folder_path) / f"{upload_id}.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"abc")
    return Upload(id=upload_id, user_id=user_id, length=length, offset=3, name="u.bin", parent_id=ROOT,
                  is_public=False, part_path=str(part), created_at=time.time() - 10, expires_at=expires_at)


async def test_the_worker_purges_expired_uploads(settings: Settings, storage: Storage, data, run_worker):
    user_id = await data.user()
    now = time.time()
    expired = await storage.create_upload(_upload(settings, user_id, now - 1), None)
    fresh = await storage.create_upload(_upload(settings, user_id, now + 3600), None)
    finished = await storage.create_upload(_upload(settings, user_id, now - 1, length=3), None)
    blob = settings.storage.folder_path / str(uuid.uuid4())
    os.replace(finished.part_path, blob)  # as completion does
    record = await storage.finish_upload(finished.id, NewFile(
        user_id, "u.bin", "file", False, ROOT, str(blob), size=3, sha256="0" * 64,
        mime_type="application/octet-stream"), now)
    assert (await storage.usage(user_id)).reserved_bytes == 10

    await run_worker(settings.replace(worker={"purge_every": 3600.0}))  # purges once at start

    async def purged() -> bool:
        return (await storage.upload_of_user(user_id, expired.id) is None
                and await storage.upload_of_user(user_id, finished.id) is None)
    await until(purged, what="the expired uploads to be purged")
    assert not Path(expired.part_path).exists()
    assert await storage.upload_of_user(user_id, fresh.id) == fresh
    assert Path(fresh.part_path).read_bytes() == b"abc"
    assert blob.read_bytes() == b"abc"  # a finished upload's bytes are its file's
    assert await storage.file_of_user(user_id, record.id) is not None
    assert (await storage.usage(user_id)).reserved_bytes == 5
