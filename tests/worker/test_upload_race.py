"""A Redis stall while uploads run: the API times out on its XADD and answers
503, rolling the upload back, while the XADD, already in Redis's socket
buffer, runs when Redis wakes. The worker then gets a job whose file is gone:
done, not dead. And every upload answered 201 gets its thumbnails.

The API runs in this process (create_app), on the test's private Redis with a
short socket timeout (redis-py takes `socket_timeout` from the URL's query);
the stall is a real one: DEBUG SLEEP stops the whole server."""

from __future__ import annotations

import asyncio
import base64
import os
import re

from redis.asyncio import Redis

from services.api.app import create_app
from shared.blobs import THUMBNAIL_WIDTHS
from shared.jobs import GROUP, stream_of
from shared.redis_client import open_redis
from shared.storage import ROOT
from tests.conftest import until

from .conftest import IMAGES, dead_letters, log_events, queue_empty

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
STALL = 1.5  # seconds Redis sleeps; the API gives up on a reply after 0.3 s


async def test_a_redis_stall_during_uploads_leaves_no_dead_letter_and_every_201_gets_thumbnails(
        aiohttp_client, settings, storage, redis, run_worker, capsys):
    api = await aiohttp_client(create_app(
        settings.replace(redis={"url": settings.redis.url + "?socket_timeout=0.3"})))
    resp = await api.post("/users", json={"email": "racer@example.com", "password": "pw"})
    assert resp.status == 201, await resp.text()
    user_id = (await resp.json())["id"]
    auth = "Basic " + base64.b64encode(b"racer@example.com:pw").decode()
    resp = await api.get("/connect", headers={"Authorization": auth})
    headers = {"X-Token": (await resp.json())["token"]}
    photo = base64.b64encode((IMAGES / "hopper.jpg").read_bytes()).decode()
    running = await run_worker()

    async def upload(n: int) -> tuple[int, dict]:
        resp = await api.post("/files", headers=headers,
                              json={"name": f"photo-{n}.jpg", "type": "image", "data": photo})
        return resp.status, await resp.json()

    # Six at once first: the API's pool then holds six open connections, so the
    # uploads below send their XADD at once instead of connecting; this also
    # puts the token in the API's caches: their auth needs no Redis.
    answers = list(await asyncio.gather(*(upload(n) for n in range(6))))
    sleeper = open_redis(settings.redis.url)  # its own connection, with the default (long) timeout
    await sleeper.ping()
    try:
        stall = asyncio.create_task(sleeper.execute_command("DEBUG", "SLEEP", str(STALL)))
        answers += await asyncio.gather(*(upload(n) for n in range(6, 12)))
        await stall
        answers += [await upload(n) for n in range(12, 15)]  # Redis is back
    finally:
        await sleeper.aclose()

    statuses = [status for status, _ in answers]
    assert set(statuses) <= {201, 503}, answers
    created = [body for status, body in answers if status == 201]
    assert 503 in statuses, "no upload was caught by the stall: nothing was tested"
    assert len(created) >= 9

    # every upload answered 201 gets its thumbnails ...
    folder = settings.storage.folder_path
    for body in created:
        record = await storage.file_of_user(user_id, body["id"])
        assert record is not None and record.local_path
        path = record.local_path
        await until(lambda p=path: all(os.path.exists(f"{p}_{w}") for w in THUMBNAIL_WIDTHS),
                    what=f"the thumbnails of {body['name']}")
    # ... the XADDs of the uploads answered 503 ran when Redis woke (before those
    # of the last uploads, whose jobs are done): their jobs are done, not dead
    await until(lambda: _all_settled(redis), what="every job settled")
    assert await dead_letters(redis) == []
    # (a 503 may also come before the XADD was sent: a new connection's handshake timed out)
    assert 1 <= running.worker.counts["skipped"] <= statuses.count(503)
    assert running.worker.counts["done"] == len(created) + 1  # and the welcome
    # ... and a 503 left no document and no blob
    assert await storage.count_files() == len(created)
    names = {name for name in os.listdir(folder) if UUID.fullmatch(name)}
    expected = set()
    for body in created:
        record = await storage.file_of_user(user_id, body["id"])
        assert record is not None and record.local_path
        expected.add(os.path.basename(record.local_path))
    assert names == expected
    assert [c.parent_id for c in await storage.children(user_id, ROOT, 0)] == [ROOT] * len(created)
    skipped = [e for e in log_events(capsys.readouterr().out) if e["event"] == "job.skipped"]
    assert {(e["level"], e["reason"]) for e in skipped} == {("info", "File not found")}


async def _all_settled(redis: Redis) -> bool:
    stream = stream_of("thumbnails")
    return (await queue_empty(redis) and await redis.zcard(stream + ":delayed") == 0
            and int((await redis.xpending(stream, GROUP))["pending"]) == 0)
