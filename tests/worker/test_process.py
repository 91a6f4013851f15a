"""`python -m services.worker` as real processes with real signals: crash
recovery after SIGKILL, graceful SIGTERM, hostile images, the operator CLI."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from PIL import Image
from redis.exceptions import ResponseError

from services.worker.consumer import JobWorker
from shared.blobs import THUMBNAIL_WIDTHS
from shared.enqueuer import Enqueuer
from shared.jobs import DEAD_LETTERS, GROUP, Job, stream_of, thumbnails_job, welcome_job
from shared.redis_client import open_redis
from tests.conftest import free_port, until

from .conftest import cli, dead_letters, pending_count, queue_empty, start_redis


def thumbnails_done(path: str) -> bool:
    return all(os.path.exists(f"{path}_{w}") for w in THUMBNAIL_WIDTHS)


def assert_thumbnails_decode(path: str) -> None:
    for width in THUMBNAIL_WIDTHS:
        with Image.open(f"{path}_{width}") as im:
            im.load()
            assert 0 < im.width <= width


def part_files(folder: Path) -> list[str]:
    return [name for name in os.listdir(folder) if name.endswith(".part")]


async def batch_of_images(data, n: int) -> list[str]:
    user_id = await data.user()
    paths = []
    for i in range(n):
        file_id, path = await data.image(user_id, ("hopper.jpg", "flower.jpg")[i % 2])
        paths.append(path)
        await data.enqueue(thumbnails_job(file_id, user_id))
    return paths


def test_a_bad_config_exits_2_with_one_line(env_for, tmp_path):
    result = cli(env_for, "--config", str(tmp_path / "missing.toml"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "config file not found" in result.stderr
    result = cli({**env_for, "WORKER_CONCURRENCY": "0"})
    assert result.returncode == 2
    assert "WORKER_CONCURRENCY" in result.stderr


async def test_welcome_printed_and_sigterm_exits_0(data, redis, spawn):
    user_id = await data.user("zoe@example.com")
    worker = spawn()
    await data.enqueue(welcome_job(user_id))
    await until(lambda: "Welcome zoe@example.com!\n" in worker.output(), what="the welcome line")
    await until(lambda: queue_empty(redis), what="the ack")
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert [e["done"] for e in worker.events("worker.stopped")] == [1]


async def test_crash_recovery_after_sigkill_mid_batch(data, redis, spawn, settings):
    paths = await batch_of_images(data, 50)
    first = spawn(WORKER_CPU_THREADS="1")  # one thread: the batch takes long enough to be cut
    await until(lambda: sum(map(thumbnails_done, paths)) >= 5, timeout=60, what="a few jobs done")
    first.proc.send_signal(signal.SIGKILL)
    assert first.wait() == -signal.SIGKILL
    stream = stream_of("thumbnails")
    left = await redis.xlen(stream)
    assert left > 0, "the batch finished before the kill: nothing was tested"
    assert await pending_count(redis, stream) > 0  # jobs it held, never acked

    # A second worker (another name) claims them once they are silent for claim_idle.
    second = spawn(WORKER_STALE_PART_AGE="0")
    await until(lambda: queue_empty(redis), timeout=120, what="every job done")
    await until(lambda: _no_pending(redis, stream), what="nothing pending")
    for path in paths:
        assert_thumbnails_decode(path)
    assert part_files(settings.storage.folder_path) == []
    assert await redis.xlen(DEAD_LETTERS) == 0
    assert second.events("worker.claimed"), "the second worker should have claimed the dead one's jobs"
    second.proc.send_signal(signal.SIGTERM)
    assert second.wait() == 0


async def _no_pending(redis, stream: str) -> bool:
    return await pending_count(redis, stream) == 0


async def test_the_same_name_restarted_finishes_its_own_jobs(data, redis, spawn, settings):
    paths = await batch_of_images(data, 30)
    first = spawn("--name", "thumbs-1", WORKER_CPU_THREADS="1")
    await until(lambda: sum(map(thumbnails_done, paths)) >= 3, timeout=60, what="a few jobs done")
    first.proc.send_signal(signal.SIGKILL)
    first.wait()
    assert await pending_count(redis, stream_of("thumbnails")) > 0
    # claim_idle is long: only reading its own pending entries gets them done
    again = spawn("--name", "thumbs-1", WORKER_CLAIM_IDLE="600", WORKER_STALE_PART_AGE="0")
    await until(lambda: queue_empty(redis), timeout=120, what="every job done")
    assert all(map(thumbnails_done, paths))
    assert again.events("worker.recovered")
    again.proc.send_signal(signal.SIGINT)
    assert again.wait() == 0
    assert part_files(settings.storage.folder_path) == []


async def test_sigterm_with_jobs_in_hand_loses_none(data, redis, spawn):
    paths = await batch_of_images(data, 40)
    worker = spawn(WORKER_CPU_THREADS="1", WORKER_CONCURRENCY="4")
    await until(lambda: sum(map(thumbnails_done, paths)) >= 3, timeout=60, what="a few jobs done")
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.wait() == 0
    stream = stream_of("thumbnails")
    done = sum(map(thumbnails_done, paths))
    left = await redis.xlen(stream)
    assert left > 0, "the batch finished before the signal: nothing was tested"
    # every job is either finished (and acked, so deleted) or still in the stream
    assert done + left == len(paths)
    assert await pending_count(redis, stream) == 0  # the jobs in hand were finished
    [stopped] = worker.events("worker.stopped")
    assert stopped["done"] == done and stopped["abandoned"] == 0
    # and the rest is done by the next worker
    spawn()
    await until(lambda: queue_empty(redis), timeout=120, what="the rest done")
    assert all(map(thumbnails_done, paths))


async def test_hostile_images_are_dead_lettered_and_the_worker_goes_on(data, redis, spawn):
    user_id = await data.user()
    hostile = ["decompression_bomb.gif", "broken.png", "truncated_jpeg.jpg", os.urandom(4096)]
    for source in hostile:
        file_id, _ = await data.image(user_id, source)
        await data.enqueue(thumbnails_job(file_id, user_id))
    good_id, good_path = await data.image(user_id, "hopper.jpg")
    await data.enqueue(thumbnails_job(good_id, user_id))
    worker = spawn(WORKER_CONCURRENCY="1")  # one at a time: the good job comes after all of them
    await until(lambda: queue_empty(redis), timeout=60, what="every job settled")
    letters = await dead_letters(redis)
    assert len(letters) == 4
    for letter in letters:
        assert letter["error"].startswith("Image rejected: ")
        assert letter["attempts"] == "1"  # permanent: not retried
    assert "pixels, above the limit" in letters[0]["error"]
    assert_thumbnails_decode(good_path)
    assert worker.proc.poll() is None  # still running
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.wait() == 0


async def test_status_text_and_json(data, redis, env_for, settings):
    # two dead letters, by a real worker
    worker = JobWorker(settings)
    await worker.start()
    import asyncio
    task = asyncio.create_task(worker.run())
    await data.enqueue(Job("welcome", {}))
    await data.enqueue(Job("thumbnails", {"userId": "x"}))
    await until(lambda: _count(redis, DEAD_LETTERS, 2), what="two dead letters")
    worker.stop(5)
    await task
    await worker.close()
    # three waiting thumbnails jobs, one of them read by a consumer that has not acked it
    user_id = await data.user()
    for _ in range(3):
        file_id, _ = await data.image(user_id, "hopper.jpg")
        await data.enqueue(thumbnails_job(file_id, user_id))
    await redis.xreadgroup(GROUP, "busy", {stream_of("thumbnails"): ">"}, count=1)

    result = cli(env_for, "status", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["streams"]["thumbnails"]["length"] == 3
    assert status["streams"]["thumbnails"]["pending"] == 1
    assert status["streams"]["welcome"]["length"] == 0
    assert status["streams"]["welcome"]["pending"] == 0
    assert status["dead_letters"] == 2
    assert sorted(d["error"] for d in status["recent_dead"]) == ["Missing fileId", "Missing userId"]

    result = cli(env_for, "status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split()[:3] == ["thumbnails", "3", "1"]
    assert lines[2].split()[:3] == ["welcome", "0", "0"]
    assert "dead letters: 2" in lines
    assert any(line.endswith(": Missing userId") for line in lines)


async def _count(redis, key: str, n: int) -> bool:
    return await redis.xlen(key) >= n


async def test_requeue_dead_puts_jobs_back_with_attempts_reset(data, redis, spawn, env_for):
    """The upload's content is unreadable (a folder) until the operator fixes it."""
    user_id = await data.user()
    file_id, path = await data.image(user_id, "hopper.jpg")
    os.unlink(path)
    os.mkdir(path)
    worker = spawn(WORKER_MAX_ATTEMPTS="2")
    await data.enqueue(thumbnails_job(file_id, user_id))
    await until(lambda: redis.xlen(DEAD_LETTERS), timeout=30, what="the dead letter")
    await until(lambda: worker.events("job.dead"), what="the dead letter logged")  # after the move
    [letter] = await dead_letters(redis)
    assert letter["attempts"] == "2" and letter["error"].startswith("IsADirectoryError")
    assert [e["attempt"] for e in worker.events("job.retry")] == [1]
    assert len(worker.events("job.dead")) == 1

    os.rmdir(path)  # the operator repairs the file, then requeues
    Path(path).write_bytes((Path(__file__).parent.parent / "images" / "hopper.jpg").read_bytes())
    result = cli(env_for, "requeue-dead")
    assert result.returncode == 0, result.stderr
    assert "requeued 1" in result.stdout
    assert await redis.xlen(DEAD_LETTERS) == 0
    await until(lambda: thumbnails_done(path), timeout=30, what="the requeued job done")
    await until(lambda: queue_empty(redis), what="acked")
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.wait() == 0
    [*_, last_start] = worker.events("job.start")  # buffered lines are out once it stopped
    assert last_start["attempt"] == 1  # attempts were reset


async def test_the_worker_rides_out_a_redis_restart(data, spawn, tmp_path, env_for):
    """Redis goes away (the worker logs and waits, without spinning), comes
    back empty (the worker makes its groups again) and jobs flow again."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    server = start_redis(port, tmp_path)
    try:
        user_id = await data.user("back@example.com")
        worker = spawn(REDIS_URL=url)
        await until(lambda: worker.events("worker.start"), what="the worker up")
        server.terminate()
        server.wait(10)
        await until(lambda: worker.events("worker.redis_error"), what="the outage noticed")
        errors_in_a_while = len(worker.events("worker.redis_error"))
        assert worker.proc.poll() is None
        server = start_redis(port, tmp_path)
        client = open_redis(url)
        try:
            await Enqueuer(client).enqueue(welcome_job(user_id))
            await until(lambda: "Welcome back@example.com!\n" in worker.output(), timeout=30,
                        what="the job done after the restart")
        finally:
            await client.aclose()
        assert worker.events("worker.group_recreated")
        assert errors_in_a_while < 50  # backing off, not a busy loop
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.wait() == 0
        result = cli({**env_for, "REDIS_URL": url}, "status")
        assert result.returncode == 0
        server.terminate()
        server.wait(10)
        result = cli({**env_for, "REDIS_URL": url}, "status")
        assert result.returncode == 1
        assert result.stderr.startswith("redis unreachable:")
    finally:
        server.kill()
        server.wait(10)


async def test_a_worker_that_cannot_start_exits_3(spawn):
    """Nobody listens at REDIS_URL: the start fails, said in one event, exit 3."""
    worker = spawn(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert worker.wait() == 3
    [failed] = worker.events("worker.start_failed")
    assert "ConnectionError" in failed["error"]


async def test_a_second_signal_leaves_the_jobs_in_hand_pending_and_exits_0(data, redis, spawn):
    """The first SIGTERM starts the graceful stop (jobs in hand may finish
    within GRACEFUL_TIMEOUT, long here); the second one cuts it short."""
    photo = _slow_photo()  # a few hundred ms each: the jobs in hand outlast the two signals
    user_id = await data.user()
    paths = []
    for _ in range(6):
        file_id, path = await data.image(user_id, photo)
        paths.append(path)
        await data.enqueue(thumbnails_job(file_id, user_id))
    worker = spawn(WORKER_CPU_THREADS="1", WORKER_CONCURRENCY="4", GRACEFUL_TIMEOUT="600")
    stream = stream_of("thumbnails")
    await until(lambda: worker.events("job.start"), timeout=60, what="jobs in hand")
    worker.proc.send_signal(signal.SIGTERM)
    await until(lambda: worker.events("worker.stopping"), what="the graceful stop begun")
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.wait() == 0
    [stopped] = worker.events("worker.stopped")
    assert stopped["abandoned"] > 0, "every job in hand finished before the second signal"
    # the abandoned ones are still pending: the next worker claims and finishes them
    assert await pending_count(redis, stream) == stopped["abandoned"]
    spawn()
    await until(lambda: queue_empty(redis), timeout=120, what="every job done")
    assert all(map(thumbnails_done, paths))


def _slow_photo() -> bytes:
    """A 12-megapixel progressive JPEG of noise: slow to decode, like a real photo."""
    import io

    out = io.BytesIO()
    Image.effect_noise((4000, 3000), 64).convert("RGB").save(out, "JPEG", quality=95, progressive=True)
    return out.getvalue()


async def _consumers(redis, stream: str) -> set[str]:
    return {c["name"].decode() for c in await redis.xinfo_consumers(stream, GROUP)}


async def _holds(redis, stream: str, consumer: str) -> bool:
    try:
        summary = await redis.xpending(stream, GROUP)
    except ResponseError:  # no group yet: the worker is starting
        return False
    return any(c["name"].decode() == consumer and int(c["pending"]) > 0
               for c in summary["consumers"] or ())


async def test_killed_workers_do_not_pile_up_in_the_groups(data, redis, spawn, settings):
    """Four workers SIGKILLed one after another, each with jobs in hand: every
    job still completes, and the groups list only the live consumer once the
    dead ones' entries are claimed (claim_idle is 1 s here), not an hour later."""
    paths = await batch_of_images(data, 30)
    thumbnails = stream_of("thumbnails")
    for n in range(4):
        doomed = spawn("--name", f"doomed-{n}", WORKER_CPU_THREADS="1", WORKER_CONCURRENCY="4")
        await until(lambda n=n: _holds(redis, thumbnails, f"doomed-{n}"), timeout=60,
                    what=f"doomed-{n} holding jobs")
        doomed.proc.send_signal(signal.SIGKILL)
        assert doomed.wait() == -signal.SIGKILL
    assert {f"doomed-{n}" for n in range(4)} <= await _consumers(redis, thumbnails)
    survivor = spawn("--name", "survivor", WORKER_STALE_PART_AGE="0")
    await until(lambda: queue_empty(redis), timeout=120, what="every job done")
    assert all(map(thumbnails_done, paths))
    assert await redis.xlen(DEAD_LETTERS) == 0
    for stream in (thumbnails, stream_of("welcome")):
        await until(lambda s=stream: _only(redis, s, {"survivor"}), timeout=30,
                    what=f"only the live consumer in {stream}")
    assert survivor.events("worker.consumers_removed")
    survivor.proc.send_signal(signal.SIGTERM)
    assert survivor.wait() == 0
    # a worker that stopped gracefully, holding nothing, leaves at once
    assert await _consumers(redis, thumbnails) == set()
    assert await _consumers(redis, stream_of("welcome")) == set()


async def _only(redis, stream: str, names: set[str]) -> bool:
    return await _consumers(redis, stream) == names


async def test_only_a_consumer_without_liveness_key_and_holding_nothing_is_removed(data, redis):
    """Both checks and the delete run in one script: a worker back under its
    name (its key set again) keeps its consumer, and so does one holding entries."""
    from services.worker.reaper import alive_key, forget_if_gone

    stream = stream_of("welcome")
    await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    await data.enqueue(welcome_job(await data.user()))
    await redis.xreadgroup(GROUP, "holding", {stream: ">"}, count=1)  # read, then killed
    for name in ("back", "gone"):
        await redis.xgroup_createconsumer(stream, GROUP, name)
    await redis.set(alive_key("back"), "1")
    assert not await forget_if_gone(redis, stream, "holding")
    assert not await forget_if_gone(redis, stream, "back")
    assert await forget_if_gone(redis, stream, "gone")
    assert await _consumers(redis, stream) == {"holding", "back"}
    assert await pending_count(redis, stream) == 1
    assert not await forget_if_gone(redis, "files_manager:jobs:no-such-stream", "gone")  # no group: no error
