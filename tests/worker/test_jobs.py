"""The two job kinds end to end in a worker on this event loop: validation
messages, thumbnails written, welcome printed, streams emptied after acks."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from shared.jobs import GROUP, Job, stream_of, thumbnails_job, welcome_job
from shared.logging import flush_logs
from shared.storage import ROOT, NewFile
from tests.conftest import until

from .conftest import CollectSender, dead_letters, log_events, pending_count, queue_empty


@pytest.mark.parametrize(("payload", "message"), [
    ({"userId": "5f1e7d1c9b1e8a3f2c4d5e6f"}, "Missing fileId"),
    ({"fileId": "5f1e7d1c9b1e8a3f2c4d5e6f"}, "Missing userId"),
    ({}, "Missing fileId"),  # fileId is checked first
    ({"fileId": "", "userId": ""}, "Missing fileId"),
])
async def test_thumbnails_validation_messages(data, redis, run_worker, payload, message):
    await run_worker()
    await data.enqueue(Job("thumbnails", payload))
    await until(lambda: redis.xlen("files_manager:jobs:dead"), what="a dead letter")
    [letter] = await dead_letters(redis)
    assert letter["error"] == message
    assert letter["kind"] == "thumbnails"
    assert letter["attempts"] == "1"  # permanent: no retry
    assert await queue_empty(redis)
    assert await pending_count(redis, stream_of("thumbnails")) == 0


@pytest.mark.parametrize("payload", [
    {"fileId": "5f1e7d1c9b1e8a3f2c4d5e6f", "userId": "5f1e7d1c9b1e8a3f2c4d5e6a"},
    {"fileId": "not-an-id", "userId": "also-not"},
])
async def test_thumbnails_of_a_file_that_is_gone_are_skipped(data, redis, run_worker, payload, capsys):
    """No such file (an upload rolled back after its XADD was sent): nothing
    to do, so the job is done, logged at info, and no dead letter."""
    running = await run_worker()
    await data.enqueue(Job("thumbnails", payload))
    await until(lambda: running.worker.counts["skipped"] == 1, what="the job skipped")
    await until(lambda: queue_empty(redis), what="acked")
    assert await pending_count(redis, stream_of("thumbnails")) == 0
    assert await dead_letters(redis) == []
    [skipped] = [e for e in log_events(capsys.readouterr().out) if e["event"] == "job.skipped"]
    assert (skipped["level"], skipped["kind"], skipped["reason"]) == ("info", "thumbnails", "File not found")


async def test_thumbnails_of_another_users_file_or_a_non_image_are_skipped_of_a_folder_dead(
        data, storage, redis, run_worker):
    """Another user's file looks gone (ids scope every look-up); a file that
    is no image (any more: its content was replaced) has nothing to do; a
    folder can never get thumbnails: a dead letter."""
    owner, other = await data.user(), await data.user()
    file_id, path = await data.image(owner, "hopper.jpg")
    plain_id, plain_path = await data.image(owner, "hopper.jpg", type_="file")
    folder = await storage.create_file(NewFile(owner, "f", "folder", False, ROOT, local_path=None))
    running = await run_worker()
    await data.enqueue(thumbnails_job(file_id, other))
    await data.enqueue(thumbnails_job(plain_id, owner))
    await data.enqueue(thumbnails_job(folder.id, owner))
    await until(lambda: _dead_count(redis, 1), what="a dead letter")
    await until(lambda: running.worker.counts["skipped"] == 2, what="the jobs skipped")
    assert [d["error"] for d in await dead_letters(redis)] == ["File not found"]
    assert not any(os.path.exists(f"{p}_{w}") for p in (path, plain_path) for w in (500, 250, 100))


async def test_thumbnails_of_a_document_whose_blob_is_gone_are_skipped(data, redis, run_worker):
    user_id = await data.user()
    file_id, path = await data.image(user_id, "hopper.jpg")
    os.unlink(path)  # the request's rollback removed the blob first
    running = await run_worker()
    await data.enqueue(thumbnails_job(file_id, user_id))
    await until(lambda: running.worker.counts["skipped"] == 1, what="the job skipped")
    await until(lambda: queue_empty(redis), what="acked")
    assert await dead_letters(redis) == []


async def _dead_count(redis, n: int) -> bool:
    return await redis.xlen("files_manager:jobs:dead") >= n


async def test_welcome_without_a_user_id_is_dead(data, redis, run_worker):
    await run_worker()
    await data.enqueue(Job("welcome", {}))
    await until(lambda: redis.xlen("files_manager:jobs:dead"), what="a dead letter")
    [letter] = await dead_letters(redis)
    assert (letter["kind"], letter["error"], letter["attempts"]) == ("welcome", "Missing userId", "1")


async def test_welcome_of_a_user_that_is_gone_is_skipped(data, redis, run_worker, capsys):
    """A sign-up rolled back after its XADD was sent: no user, nothing to do."""
    sender = CollectSender()
    running = await run_worker(sender=sender)
    await data.enqueue(Job("welcome", {"userId": "5f1e7d1c9b1e8a3f2c4d5e6f"}))
    await until(lambda: running.worker.counts["skipped"] == 1, what="the job skipped")
    await until(lambda: queue_empty(redis), what="acked")
    assert await dead_letters(redis) == [] and sender.sent == []
    [skipped] = [e for e in log_events(capsys.readouterr().out) if e["event"] == "job.skipped"]
    assert (skipped["level"], skipped["reason"]) == ("info", "User not found")


async def test_welcome_prints_the_line(data, redis, run_worker, capsys):
    user_id = await data.user("bob@dylan.com")
    await run_worker()
    await data.enqueue(welcome_job(user_id))
    await until(lambda: queue_empty(redis), what="the job acked")
    assert "Welcome bob@dylan.com!\n" in capsys.readouterr().out


async def test_welcome_through_a_custom_sender(data, redis, run_worker):
    sender = CollectSender()
    user_id = await data.user("ann@example.com")
    await run_worker(sender=sender)
    await data.enqueue(welcome_job(user_id))
    await until(lambda: sender.sent, what="the sender called")
    assert sender.sent == ["ann@example.com"]


async def test_thumbnails_are_written_and_the_stream_stays_empty(data, redis, run_worker, capsys):
    user_id = await data.user()
    jobs = []
    for name in ("hopper.jpg", "flower.jpg", "transparent.png", "hopper.webp"):
        file_id, path = await data.image(user_id, name)
        jobs.append(path)
        await data.enqueue(thumbnails_job(file_id, user_id))
    await run_worker()
    await until(lambda: queue_empty(redis), what="every job acked and deleted")
    for path in jobs:
        for width in (500, 250, 100):
            with Image.open(f"{path}_{width}") as im:
                im.load()
                assert im.width <= width
    # acked entries are deleted: nothing left in the streams or pending
    assert await redis.xlen(stream_of("thumbnails")) == 0
    assert await pending_count(redis, stream_of("thumbnails")) == 0
    assert await redis.xlen("files_manager:jobs:dead") == 0
    # the group stays (created with MKSTREAM), and its entries-read moved on
    groups = await redis.xinfo_groups(stream_of("thumbnails"))
    assert [g["name"] for g in groups] == [GROUP.encode()]
    flush_logs()  # job.start/job.done go through the buffered sink
    events = log_events(capsys.readouterr().out)
    starts = [e for e in events if e["event"] == "job.start"]
    dones = [e for e in events if e["event"] == "job.done"]
    assert len(starts) == len(dones) == 4
    assert all(e["duration_ms"] > 0 and e["kind"] == "thumbnails" for e in dones)
