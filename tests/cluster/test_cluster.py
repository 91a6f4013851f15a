"""Three nodes behind nginx on the same engines (scale-out.md, "Proven together"):
what one node did, the others serve; a node SIGKILLed under load costs no GET
at the load balancer, no tus upload in flight on it and no job it held; once
restarted it serves again."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
from PIL import Image

from shared.jobs import GROUP, THUMBNAILS, stream_of
from shared.redis_client import open_redis
from shared.upload_lock import LOCK_SECONDS, lock_key
from tests.conftest import IMAGES, until

from .engines import Engines
from .harness import Cluster
from .nginx import AccessLog
from .nodes import Node

SIZES = (500, 250, 100)
MiB = 1 << 20
TUS = {"Tus-Resumable": "1.0.0"}
CHUNK = {"Content-Type": "application/offset+octet-stream"}
CLIENTS = 8  # concurrent GET clients through nginx


def session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60),
                                 connector=aiohttp.TCPConnector(limit=0, force_close=False))


async def sign_up(http: aiohttp.ClientSession, url: str) -> dict[str, str]:
    """A new account made through `url`, logged in there: its token header."""
    email, password = f"user-{uuid.uuid4().hex[:8]}@example.com", "s3cret!pw"
    resp = await http.post(f"{url}/users", json={"email": email, "password": password})
    assert resp.status == 201, await resp.text()
    resp = await http.get(f"{url}/connect", headers={"Authorization": aiohttp.encode_basic_auth(email, password)})
    assert resp.status == 200, await resp.text()
    return {"X-Token": (await resp.json())["token"]}


async def create_file(http: aiohttp.ClientSession, url: str, token: dict[str, str], name: str, data: bytes,
                      kind: str = "file") -> tuple[int, str | None]:
    """POST /files (v1): (status, id when 201)."""
    resp = await http.post(f"{url}/files", headers=token, json={
        "name": name, "type": kind, "data": base64.b64encode(data).decode()})
    body = await resp.read()
    return resp.status, (await resp.json())["id"] if resp.status == 201 else body.decode(errors="replace")


async def status_of(http: aiohttp.ClientSession, url: str, token: dict[str, str]) -> int:
    async with http.get(url, headers=token) as resp:
        await resp.read()
        return resp.status


async def has_thumbnails(http: aiohttp.ClientSession, url: str, token: dict[str, str], file_id: str) -> bool:
    for size in SIZES:
        if await status_of(http, f"{url}/files/{file_id}/data?size={size}", token) != 200:
            return False
    return True


def answered_by(entry: dict, node: Node) -> bool:
    """An access-log line answered 200 by `node` (the last upstream tried)."""
    return entry["status"] == 200 and entry["upstream"].split(", ")[-1] == node.address


def attempts(entry: dict) -> list[tuple[str, str]]:
    """The nodes nginx tried for an access-log line, with what each answered
    (502 for a connection refused or cut)."""
    return list(zip(entry["upstream"].split(", "), entry["upstream_status"].split(", "), strict=False))


def big_png() -> bytes:
    """A real image whose thumbnails take a while (25 Mpx): a job stays in a
    worker's hands long enough to see it there."""
    image = Image.radial_gradient("L").resize((5000, 5000)).convert("RGB")
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


async def test_what_one_node_did_the_others_serve(cluster: Cluster) -> None:
    a, b, c = cluster.nodes
    photo = (IMAGES / "flower.jpg").read_bytes()
    async with session() as http:
        token = await sign_up(http, a.url)
        status, image_id = await create_file(http, a.url, token, "flower.jpg", photo, kind="image")
        assert status == 201, image_id

        resp = await http.get(f"{b.url}/files", headers=token)
        assert resp.status == 200
        assert [f["id"] for f in await resp.json()] == [image_id]

        resp = await http.get(f"{c.url}/files/{image_id}/data", headers=token)
        assert resp.status == 200
        assert await resp.read() == photo

        for node in (b, c):
            await until(lambda n=node: has_thumbnails(http, n.url, token, image_id),
                        f"the thumbnails through node {node.index}")
            for size in SIZES:
                resp = await http.get(f"{node.url}/files/{image_id}/data?size={size}", headers=token)
                with Image.open(io.BytesIO(await resp.read())) as thumb:
                    assert (thumb.format, thumb.width) == ("JPEG", min(size, 480))  # never upscaled


@dataclass
class Load:
    """GETs through the load balancer: how many were answered 200, and every other outcome."""
    ok: int = 0
    failures: list[str] = field(default_factory=list)


@dataclass
class Uploads:
    created: list[str] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)


async def get_forever(http: aiohttp.ClientSession, urls: list[str], token: dict[str, str], load: Load,
                      stop: asyncio.Event) -> None:
    i = 0
    while not stop.is_set():
        url = urls[i % len(urls)]
        i += 1
        try:
            async with http.get(url, headers=token) as resp:
                await resp.read()
                if resp.status == 200:
                    load.ok += 1
                else:
                    load.failures.append(f"{url}: {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            load.failures.append(f"{url}: {exc!r}")


async def upload_forever(http: aiohttp.ClientSession, url: str, token: dict[str, str], image: bytes,
                         uploads: Uploads, stop: asyncio.Event) -> None:
    while not stop.is_set():
        status, result = await create_file(http, url, token, "photo.jpg", image, kind="image")
        if status == 201:
            assert result is not None
            uploads.created.append(result)
        else:
            uploads.refused.append((status, str(result)))


@contextlib.asynccontextmanager
async def under_load(http: aiohttp.ClientSession, url: str) -> AsyncIterator[tuple[dict[str, str], Load, Uploads]]:
    """A new account's GETs (CLIENTS at once) of a small file and a stream of
    image uploads, all through `url`, until the block ends: (its token, the
    GETs, the uploads)."""
    token = await sign_up(http, url)
    status, small_id = await create_file(http, url, token, "small.txt", b"a small file\n" * 50)
    assert status == 201
    urls = [f"{url}/files/{small_id}", f"{url}/files/{small_id}/data"]
    photo = (IMAGES / "flower.jpg").read_bytes()
    load, uploads, stop = Load(), Uploads(), asyncio.Event()
    tasks = [asyncio.create_task(get_forever(http, urls, token, load, stop)) for _ in range(CLIENTS)]
    tasks.append(asyncio.create_task(upload_forever(http, url, token, photo, uploads, stop)))
    try:
        yield token, load, uploads
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_each_node_killed_under_load_fails_no_get_and_loses_no_upload_job(cluster: Cluster) -> None:
    """Each node in turn is SIGKILLed, then restarted, under GETs and uploads through nginx."""
    log = AccessLog(cluster.nginx.access_log)
    kills: list[tuple[Node, float]] = []
    async with session() as http:
        async with under_load(http, cluster.url) as (token, load, uploads):
            for victim in cluster.nodes:
                await until(lambda v=victim: load.ok >= 200 and any(answered_by(e, v) for e in log.read()),
                            f"node {victim.index} serving its share of the load")
                kills.append((victim, time.time()))
                await asyncio.to_thread(cluster.kill_node, victim.index)
                gets_at_kill, uploads_at_kill = load.ok, len(uploads.created)
                await until(lambda g=gets_at_kill, u=uploads_at_kill: (load.ok >= g + 300
                                                                          and len(uploads.created) >= u + 3),
                            f"GETs and uploads answered with node {victim.index} dead")
                await asyncio.to_thread(cluster.restart_node, victim.index)
                restarted_at = time.time()
                await until(lambda v=victim, t=restarted_at: any(e["msec"] >= t and answered_by(e, v)
                                                                 for e in log.read()),
                            f"node {victim.index} restarted and serving through nginx again", timeout=30)

        assert load.failures == []
        # nginx met each dead node (its attempt there a 502), and then left it alone for
        # fail_timeout: a GET that met it went on to another node (no GET failed, above).
        for victim, killed_at in kills:
            assert any((victim.address, "502") in attempts(e) for e in log.entries if e["msec"] >= killed_at), \
                f"nginx never met dead node {victim.index}"
        # An upload can only fail if it was in flight on the node as it died (nginx never sends a POST twice).
        assert all(status == 502 for status, _ in uploads.refused), uploads.refused
        for file_id in uploads.created:
            await until(lambda f=file_id: has_thumbnails(http, cluster.url, token, f), f"the thumbnails of {file_id}")


async def test_a_tus_upload_in_flight_on_a_killed_node_resumes_through_another(
        cluster: Cluster, engines: Engines) -> None:
    a = cluster.nodes[0]
    content = os.urandom(3 * MiB + 12345)
    first = MiB
    async with session() as http:
        token = await sign_up(http, cluster.url)
        tus = {**TUS, **token}
        resp = await http.post(f"{cluster.url}/v2/uploads", headers={
            **tus, "Upload-Length": str(len(content)),
            "Upload-Metadata": "filename " + base64.b64encode(b"big.bin").decode()})
        assert resp.status == 201, await resp.text()
        location = resp.headers["Location"]

        resp = await http.patch(f"{a.url}{location}", headers={**tus, **CHUNK, "Upload-Offset": "0"},
                                data=content[:first])
        assert (resp.status, resp.headers["Upload-Offset"]) == (204, str(first))

        # The next chunk goes to node A too, and A dies while it arrives: some of it is on
        # the disk (past the stored offset), none of it is recorded.
        never = asyncio.Event()

        async def second_chunk() -> AsyncIterator[bytes]:
            yield content[first:first + 2 * MiB]  # more than a write batch: A writes some to the part
            await never.wait()

        in_flight = asyncio.create_task(http.patch(f"{a.url}{location}", headers={
            **tus, **CHUNK, "Upload-Offset": str(first)}, data=second_chunk()))
        upload_id = location.rsplit("/", 1)[1]
        redis = open_redis(engines.redis_url)
        try:
            await until(lambda: redis.exists(lock_key(upload_id)), "node A writing the second chunk")
        finally:
            await redis.aclose()
        await asyncio.to_thread(cluster.kill_node, a.index)
        try:
            await asyncio.wait_for(in_flight, 10)
            raise AssertionError("the chunk sent to the dead node was answered")
        except aiohttp.ClientError:
            pass

        # The client resumes as tus says, through the load balancer: where does it stand, then the
        # rest. The dead writer's hold on the upload lasts until its lock expires: meanwhile a PATCH
        # is refused 409, which tus clients retry.
        async def resumed() -> aiohttp.ClientResponse | None:
            head = await http.head(f"{cluster.url}{location}", headers=tus)
            assert head.status == 200
            offset = int(head.headers["Upload-Offset"])
            assert offset == first
            resp = await http.patch(f"{cluster.url}{location}",
                                    headers={**tus, **CHUNK, "Upload-Offset": str(offset)}, data=content[offset:])
            if resp.status == 409:
                return None
            return resp

        answered: list[aiohttp.ClientResponse] = []

        async def resume() -> bool:
            resp = await resumed()
            if resp is not None:
                answered.append(resp)
            return bool(answered)

        await until(resume, "the upload resumed through another node", timeout=LOCK_SECONDS + 20)
        resp = answered[0]
        assert resp.status == 204, await resp.text()
        assert resp.headers["Upload-Offset"] == str(len(content))
        file_id = resp.headers["File-Id"]

        resp = await http.get(f"{cluster.url}/v2/files/{file_id}", headers=token)
        document = await resp.json()
        assert (document["name"], document["size"]) == ("big.bin", len(content))
        assert document["sha256"] == hashlib.sha256(content).hexdigest()
        resp = await http.get(f"{cluster.url}/files/{file_id}/data", headers=token)
        assert await resp.read() == content


async def test_a_job_in_the_hands_of_a_killed_node_is_done_by_another(cluster: Cluster, engines: Engines) -> None:
    victim = cluster.nodes[2]
    job_worker = victim.child_pid("job worker 1")
    assert job_worker is not None
    image = await asyncio.to_thread(big_png)
    stream = stream_of(THUMBNAILS)
    async with session() as http, contextlib.aclosing(open_redis(engines.redis_url)) as redis:

        async def held_by_victim() -> list[str]:
            """The ids of the files whose thumbnail jobs the victim's job worker has in hand."""
            ids: list[str] = []
            for consumer in await redis.xinfo_consumers(stream, GROUP):
                if f":{job_worker}:" not in consumer["name"].decode() or not consumer["pending"]:
                    continue
                for entry in await redis.xpending_range(stream, GROUP, "-", "+", 100, consumer["name"]):
                    for _, fields in await redis.xrange(stream, entry["message_id"], entry["message_id"]):
                        ids.append(json.loads(fields[b"data"])["fileId"])
            return ids

        held: list[str] = []

        async def victim_holds_a_job() -> bool:
            held[:] = await held_by_victim()
            return bool(held)

        token = await sign_up(http, cluster.url)
        uploads, stop = Uploads(), asyncio.Event()
        uploader = asyncio.create_task(upload_forever(http, cluster.url, token, image, uploads, stop))
        try:
            # The job workers take turns: about one upload in three goes to the victim's.
            await until(victim_holds_a_job, "the victim's job worker holding a thumbnails job", timeout=60)
            await asyncio.to_thread(cluster.kill_node, victim.index)
        finally:
            stop.set()
            await uploader

        assert all(status == 502 for status, _ in uploads.refused), uploads.refused
        for file_id in held + uploads.created:
            await until(lambda f=file_id: has_thumbnails(http, cluster.url, token, f), f"the thumbnails of {file_id}")


async def test_a_redis_failover_under_load_answers_503_at_worst_and_loses_no_job(
        cluster: Cluster, engines: Engines) -> None:
    """The Redis master SIGKILLed under GETs and uploads through nginx: while
    the sentinels promote the replica, requests get 503 (never a 500, never a
    hang), the cluster recovers by itself, and every upload answered 201 gets
    its thumbnails."""
    assert engines.redis is not None
    async with session() as http:
        async with under_load(http, cluster.url) as (token, load, uploads):
            await until(lambda: load.ok >= 200 and len(uploads.created) >= 3, "the cluster under load")
            old = await asyncio.to_thread(engines.redis.kill_master)
            await asyncio.to_thread(engines.redis.wait_for_failover, old)
            gets, created = load.ok, len(uploads.created)
            await until(lambda: load.ok >= gets + 300 and len(uploads.created) >= created + 3,
                        "GETs and uploads answered again on the new master", timeout=60)
        await asyncio.to_thread(engines.redis.restart_old_master)  # the old master comes back as a replica

        assert all(failure.endswith(": 503") for failure in load.failures), load.failures[:10]
        assert all(status == 503 for status, _ in uploads.refused), uploads.refused[:10]
        for file_id in uploads.created:
            await until(lambda f=file_id: has_thumbnails(http, cluster.url, token, f), f"the thumbnails of {file_id}")
