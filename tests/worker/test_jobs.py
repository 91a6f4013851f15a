"""The two job kinds end to end in a worker on this event loop: validation
messages, thumbnails written, welcome printed, streams emptied after acks."""

from __future__ import annotations

import pytest
from PIL import Image

from shared.jobs import GROUP, Job, stream_of, thumbnails_job, welcome_job
from shared.logging import flush_logs

from .conftest import CollectSender, dead_letters, log_events, pending_count, queue_empty, until


@pytest.mark.parametrize(("payload", "message"), [
    ({"userId": "5f1e7d1c9b1e8a3f2c4d5e6f"}, "Missing fileId"),
    ({"fileId": "5f1e7d1c9b1e8a3f2c4d5e6f"}, "Missing userId"),
    ({}, "Missing fileId"),  # fileId is checked first
    ({"fileId": "", "userId": ""}, "Missing fileId"),
    ({"fileId": "5f1e7d1c9b1e8a3f2c4d5e6f", "userId": "5f1e7d1c9b1e8a3f2c4d5e6a"}, "File not found"),
    ({"fileId": "not-an-id", "userId": "also-not"}, "File not found"),
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


async def test_thumbnails_of_another_users_file_or_a_folder_are_not_found(data, redis, run_worker):
    owner, other = await data.user(), await data.user()
    file_id, _ = await data.image(owner, "hopper.jpg")
    folder_id, _ = await data.image(owner, "hopper.jpg", type_="file")
    await run_worker()
    await data.enqueue(thumbnails_job(file_id, other))
    await data.enqueue(thumbnails_job(folder_id, owner))
    await until(lambda: _dead_count(redis, 2), what="two dead letters")
    assert [d["error"] for d in await dead_letters(redis)] == ["File not found", "File not found"]


async def _dead_count(redis, n: int) -> bool:
    return await redis.xlen("files_manager:jobs:dead") >= n


@pytest.mark.parametrize(("payload", "message"), [
    ({}, "Missing userId"),
    ({"userId": "5f1e7d1c9b1e8a3f2c4d5e6f"}, "User not found"),
])
async def test_welcome_validation_messages(data, redis, run_worker, payload, message):
    await run_worker()
    await data.enqueue(Job("welcome", payload))
    await until(lambda: redis.xlen("files_manager:jobs:dead"), what="a dead letter")
    [letter] = await dead_letters(redis)
    assert (letter["kind"], letter["error"], letter["attempts"]) == ("welcome", message, "1")


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
