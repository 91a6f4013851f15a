"""Deleting for good: purge jobs remove blobs and their thumbnails, only inside
the folder; the periodic purge deletes trash past its retention (documents at
once, blobs by jobs), one worker at a time, never an item restored meanwhile;
and end to end, the API's permanent delete with a real worker process.
On SQLite and on MongoDB."""

from __future__ import annotations

import base64
import os
import time
import uuid

import pytest

from services.api.app import create_app
from services.worker.control import Control
from services.worker.purger import LOCK_KEY, Purger
from shared.config import Settings
from shared.enqueuer import Enqueuer
from shared.jobs import PURGE, Job
from shared.logging import get_logger
from shared.storage import ROOT, FileRecord, NewFile, Storage
from tests.conftest import until

from .conftest import IMAGES, dead_letters, queue_empty

WIDTHS = (500, 250, 100)
DAY = 86400


@pytest.fixture(params=["sqlite", "postgres", "mongo"])
def settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """Every test here on each backend (storage, redis, env_for and spawn follow)."""
    settings.storage.folder_path.mkdir(parents=True, exist_ok=True)
    if request.param != "sqlite":
        url = request.getfixturevalue("pg_db_url" if request.param == "postgres" else "mongo_db_url")
        return settings.replace(storage={"db_url": url})
    return settings


class Files:
    """Blobs in the folder and the documents naming them, as the API makes them."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.folder = settings.storage.folder_path
        self.storage = storage

    def blob(self, thumbnails: bool = True) -> str:
        name = str(uuid.uuid4())
        for each in [name, *([f"{name}_{w}" for w in WIDTHS] if thumbnails else [])]:
            (self.folder / each).write_bytes(b"content of " + each.encode())
        return name

    def exists(self, name: str) -> bool:
        return (self.folder / name).exists()

    def all_gone(self, name: str) -> bool:
        return not any(self.exists(n) for n in (name, *(f"{name}_{w}" for w in WIDTHS)))

    def all_there(self, name: str) -> bool:
        return all(self.exists(n) for n in (name, *(f"{name}_{w}" for w in WIDTHS)))

    async def user(self) -> str:
        return (await self.storage.create_user(f"{uuid.uuid4().hex[:8]}@example.com", "x")).id

    async def file(self, user_id: str, parent: str | int = ROOT) -> tuple[FileRecord, str]:
        name = self.blob()
        record = await self.storage.create_file(NewFile(
            user_id, f"{name[:8]}.jpg", "image", False, parent, str(self.folder / name),
            size=10, sha256="0" * 64, mime_type="image/jpeg"))
        return record, name

    async def folder_of(self, user_id: str) -> FileRecord:
        return await self.storage.create_file(NewFile(user_id, "box", "folder", False, ROOT, None))

    async def gone(self, record: FileRecord) -> bool:
        return await self.storage.file_with_trashed(record.user_id, record.id) is None


@pytest.fixture
def files(settings: Settings, storage: Storage) -> Files:
    return Files(settings, storage)


# ---------------------------------------------------------------- purge jobs


async def test_a_purge_job_removes_blobs_and_thumbnails_inside_the_folder_only(files, redis, spawn, tmp_path):
    doomed = [files.blob(), files.blob(thumbnails=False)]
    keep = files.blob()
    outside = tmp_path / "outside.txt"
    outside.write_text("not the folder's")
    (files.folder / "link").symlink_to(tmp_path)
    await Enqueuer(redis).enqueue(Job(PURGE, {"blobs": [*doomed, str(uuid.uuid4())]}))  # one gone already: fine
    bad = ["../outside.txt", str(outside), "a/../../outside.txt", "link/outside.txt", ".", "..", "", 5, None,
           f"./{keep}", f"{keep}/", "a\\..\\b"]
    await Enqueuer(redis).enqueue(Job(PURGE, {"blobs": bad}))
    await Enqueuer(redis).enqueue(Job(PURGE, {"blobs": keep}))  # not a list
    await Enqueuer(redis).enqueue(Job(PURGE, {}))
    spawn()
    await until(lambda: all(files.all_gone(n) for n in doomed), what="the blobs and thumbnails removed")
    await until(lambda: queue_empty(redis), what="every job settled")
    letters = await dead_letters(redis)
    assert sorted(letter["error"].split(":")[0] for letter in letters) == \
        ["Missing blobs", "Missing blobs", "Not inside the folder"]
    assert outside.read_text() == "not the folder's"
    assert files.all_there(keep)
    assert (files.folder / "link").is_symlink()


# ---------------------------------------------------------------- retention


async def test_trash_past_its_retention_is_purged_at_start(files, storage, redis, spawn):
    now = time.time()
    alice, bob = await files.user(), await files.user()
    box = await files.folder_of(alice)
    inner, inner_blob = await files.file(alice, box.id)
    old, old_blob = await files.file(bob)
    recent, recent_blob = await files.file(alice)
    live, live_blob = await files.file(alice)
    await storage.trash_file(alice, box.id, now=now - 31 * DAY)
    await storage.trash_file(bob, old.id, now=now - 30 * DAY - 60)
    await storage.trash_file(alice, recent.id, now=now - 29 * DAY)
    worker = spawn()  # trash.retention_days = 30 (the default); a purge at start
    for record in (box, inner, old):
        await until(lambda r=record: files.gone(r), what="the old trash deleted")
    await until(lambda: files.all_gone(inner_blob) and files.all_gone(old_blob), what="its blobs removed")
    await until(lambda: worker.events("purge.done"), what="the purge logged")
    assert worker.events("purge.done")[0]["trash"] == 2  # two deletions (the box with its content)
    assert (await storage.file_with_trashed(alice, recent.id)).trashed_at == now - 29 * DAY
    assert await storage.file_of_user(alice, live.id) == live
    assert files.all_there(recent_blob) and files.all_there(live_blob)
    assert (await storage.usage(alice)).used_bytes == 20 and (await storage.usage(bob)).used_bytes == 0


async def test_the_purge_comes_back_every_purge_every(files, storage, spawn):
    alice = await files.user()
    first, first_blob = await files.file(alice)
    await storage.trash_file(alice, first.id, now=time.time() - 40 * DAY)
    worker = spawn(WORKER_PURGE_EVERY="0.2")
    await until(lambda: worker.events("purge.done"), what="the purge at start, over")
    assert await files.gone(first)
    later, later_blob = await files.file(alice)
    await storage.trash_file(alice, later.id, now=time.time() - 40 * DAY)
    await until(lambda: files.gone(later), what="a later purge")
    await until(lambda: files.all_gone(first_blob) and files.all_gone(later_blob), what="both blobs removed")
    await until(lambda: len(worker.events("purge.done")) == 2, what="the later purge, over")
    assert [e["trash"] for e in worker.events("purge.done")] == [1, 1]


def purger(settings: Settings, storage: Storage, redis, **changes: dict) -> Purger:
    return Purger(storage, redis, Enqueuer(redis), settings.replace(**changes), Control(get_logger("test"), 1.0))


async def test_retention_zero_keeps_the_trash(files, storage, redis, settings):
    alice = await files.user()
    record, _ = await files.file(alice)
    await storage.trash_file(alice, record.id, now=1.0)
    assert await purger(settings, storage, redis, trash={"retention_days": 0}).purge() == {"trash": 0, "uploads": 0}
    assert await storage.file_with_trashed(alice, record.id) is not None
    assert await purger(settings, storage, redis).purge() == {"trash": 1, "uploads": 0}
    assert await storage.file_with_trashed(alice, record.id) is None


async def test_one_purge_at_a_time(files, storage, redis, settings):
    alice = await files.user()
    record, _ = await files.file(alice)
    await storage.trash_file(alice, record.id, now=1.0)
    await redis.set(LOCK_KEY, "another worker", ex=60)
    assert await purger(settings, storage, redis).purge() is None
    assert await storage.file_with_trashed(alice, record.id) is not None
    await redis.delete(LOCK_KEY)
    assert await purger(settings, storage, redis).purge() == {"trash": 1, "uploads": 0}
    assert await redis.get(LOCK_KEY) is None  # released


class RestoredAfterTheLookUp:
    """The real storage, with a user restoring the item right after the
    purge's look-up found it (a race made certain)."""

    def __init__(self, storage: Storage, user_id: str, file_id: str) -> None:
        self._storage = storage
        self._restore = (user_id, file_id)

    def __getattr__(self, name: str):
        return getattr(self._storage, name)

    async def trashed_before(self, cutoff: float, limit: int) -> list[FileRecord]:
        found = await self._storage.trashed_before(cutoff, limit)
        if found and self._restore:
            await self._storage.restore_file(*self._restore, now=time.time())
            self._restore = ()
        return found


async def test_an_item_restored_meanwhile_is_not_purged(files, storage, redis, settings):
    alice = await files.user()
    record, blob = await files.file(alice)
    await storage.trash_file(alice, record.id, now=1.0)
    racing = RestoredAfterTheLookUp(storage, alice, record.id)
    purge = Purger(racing, redis, Enqueuer(redis), settings, Control(get_logger("test"), 1.0))  # type: ignore[arg-type]
    assert await purge.purge() == {"trash": 0, "uploads": 0}
    assert await storage.file_of_user(alice, record.id) is not None
    assert files.all_there(blob)


# ---------------------------------------------------------------- end to end


async def test_the_api_deletes_for_good_and_the_worker_removes_the_blobs(
        settings, redis, spawn, aiohttp_client):
    client = await aiohttp_client(create_app(settings))
    assert (await client.post("/users", json={"email": "e2e@example.com", "password": "pw"})).status == 201
    auth = "Basic " + base64.b64encode(b"e2e@example.com:pw").decode()
    token = (await (await client.get("/connect", headers={"Authorization": auth})).json())["token"]
    headers = {"X-Token": token}
    image = base64.b64encode((IMAGES / "hopper.jpg").read_bytes()).decode()

    spawn()
    ids = []
    for _ in range(3):
        resp = await client.post("/files", headers=headers, json={"name": "h.jpg", "type": "image", "data": image})
        assert resp.status == 201
        ids.append((await resp.json())["id"])
    blobs = {name for name in os.listdir(settings.storage.folder_path) if "_" not in name}
    assert len(blobs) == 3
    folder = settings.storage.folder_path

    def thumbnails_made() -> bool:
        return all((folder / f"{b}_{w}").exists() for b in blobs for w in WIDTHS)

    await until(thumbnails_made, what="the thumbnails made")
    assert (await client.delete(f"/v2/files/{ids[0]}?permanent=true", headers=headers)).status == 204
    for file_id in ids[1:]:
        assert (await client.delete(f"/v2/files/{file_id}", headers=headers)).status == 204
    assert (await client.delete("/v2/trash", headers=headers)).status == 204
    await until(lambda: not os.listdir(folder), what="every blob and thumbnail removed")
    await until(lambda: queue_empty(redis), what="every job done")
    assert await dead_letters(redis) == []
