"""The job worker with content in S3 (moto's server over HTTP): thumbnails
read from and written to the bucket, purge jobs removing content and
thumbnails there, the orphan sweep listing the prefix, a multipart upload
abandoned by a dead writer aborted."""

from __future__ import annotations

import io
import signal
import uuid

from PIL import Image

from services.worker.control import Control
from services.worker.sweeper import OrphanSweeper
from shared.config import Settings
from shared.jobs import DEAD_LETTERS, Job, purge_jobs, thumbnails_job
from shared.logging import get_logger
from shared.open_blobs import open_blob_store
from shared.s3_blobs import S3Blobs
from shared.storage import ROOT, NewFile, Storage
from tests.conftest import until
from tests.engines.s3 import S3Bucket, stored_bytes, stored_entries, with_s3

from .conftest import IMAGES, queue_empty


async def _image_in_bucket(settings: Settings, storage: Storage, user_id: str, name: str) -> tuple[str, str]:
    """tests/images/`name` stored in the bucket as an upload is; (file id, blob name)."""
    async with open_blob_store(settings) as blobs, blobs.writer() as writer:
        await writer.write((IMAGES / name).read_bytes())
        location = await writer.commit()
    record = await storage.create_file(NewFile(user_id=user_id, name=name, type="image", is_public=False,
                                               parent_id=ROOT, local_path=location))
    return record.id, location.rsplit("/", 1)[1]


def _width(data: bytes) -> int:
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return im.size[0]


async def test_thumbnails_purge_and_hostile_images_in_the_bucket(data, storage, redis, spawn, env_for,
                                                                  settings, s3_bucket: S3Bucket):
    s3 = with_s3(settings, s3_bucket)
    env_for.update(s3_bucket.env)
    user_id = await data.user()
    photo, blob = await _image_in_bucket(s3, storage, user_id, "hopper.jpg")
    bomb, _ = await _image_in_bucket(s3, storage, user_id, "decompression_bomb.gif")
    worker = spawn(WORKER_MAX_IMAGE_PIXELS="1000000")
    await data.enqueue(thumbnails_job(photo, user_id))
    await data.enqueue(thumbnails_job(bomb, user_id))
    await until(lambda: queue_empty(redis), timeout=60, what="both jobs done")
    assert (await storage.file_of_user(user_id, photo)).has_thumbnails
    assert not (await storage.file_of_user(user_id, bomb)).has_thumbnails
    assert [_width(stored_bytes(s3, f"{blob}_{w}")) for w in (500, 250, 100)] == [128, 128, 100]  # hopper: 128 px
    [dead] = [fields async for fields in _dead(redis)]
    assert "Image rejected" in dead

    await storage.trash_file(user_id, photo, now=1.0)
    gone = await storage.purge_file(user_id, photo)
    for job in purge_jobs(gone):
        await data.enqueue(job)
    await until(lambda: not any(name.startswith(blob) for name in stored_entries(s3)), timeout=30,
                what="the content and its thumbnails removed")
    assert len(stored_entries(s3)) == 1  # the bomb's original, untouched
    await until(lambda: queue_empty(redis), what="the purge acked")
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.wait() == 0


async def _dead(redis):
    for _, fields in await redis.xrange(DEAD_LETTERS):
        yield str(fields)


async def test_a_purge_job_naming_a_path_is_refused_and_removes_nothing(data, storage, redis, spawn, env_for,
                                                                      settings, s3_bucket: S3Bucket):
    s3 = with_s3(settings, s3_bucket)
    env_for.update(s3_bucket.env)
    user_id = await data.user()
    _, blob = await _image_in_bucket(s3, storage, user_id, "hopper.jpg")
    worker = spawn()
    await data.enqueue(Job("purge", {"blobs": [f"../{blob}", f".uploads/{blob}"]}))
    await until(lambda: redis.xlen(DEAD_LETTERS), what="the job refused")
    assert stored_entries(s3) == [blob]
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.wait() == 0


async def test_the_sweep_lists_the_prefix_and_aborts_abandoned_uploads(storage, redis, settings,
                                                                        s3_bucket: S3Bucket):
    s3 = with_s3(settings, s3_bucket).replace(worker={"orphan_age": 0.0})
    user_id = (await storage.create_user("sweep@example.com", "x")).id
    named = []
    for _ in range(3):
        _, blob = await _image_in_bucket(s3, storage, user_id, "hopper.jpg")
        named.append(blob)
    async with open_blob_store(s3) as blobs:
        assert isinstance(blobs, S3Blobs)
        async with blobs.writer() as orphan:
            await orphan.write(b"no document names me")
            await orphan.commit()
        # A writer killed mid-upload: its multipart upload stays until the sweep.
        await blobs.client.create_multipart_upload(Bucket=blobs.bucket, Key=blobs.key(str(uuid.uuid4())))
        sweeper = OrphanSweeper(blobs, storage, redis, s3.worker, Control(get_logger("test"), 1.0))
        assert await sweeper.sweep() == 1
        uploads = await blobs.client.list_multipart_uploads(Bucket=blobs.bucket)
        assert uploads.get("Uploads", []) == []
    assert stored_entries(s3) == sorted(named)
