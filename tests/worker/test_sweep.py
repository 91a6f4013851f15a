"""Orphan blobs: content no file names (its API worker was killed between
writing the blob and writing the document) is swept at start and
periodically; a named blob, a young one and anything not named like a blob
are kept, and the safety valve holds when the database names (nearly) none.
On SQLite and on MongoDB."""

from __future__ import annotations

import os
import shutil
import time
import uuid

import pytest

from services.worker.control import Control
from services.worker.sweeper import LOCK_KEY, OrphanSweeper
from shared.blobs import FolderBlobs
from shared.config import Settings
from shared.logging import get_logger
from shared.storage import ROOT, NewFile, Storage
from tests.conftest import until

from .conftest import IMAGES, log_events

OLD = time.time() - 2 * 3600  # past the default orphan_age of 1 h
WIDTHS = (500, 250, 100)


@pytest.fixture(params=["sqlite", "postgres", "mongo"])
def settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """Every test here on each backend (the storage, redis and run_worker fixtures follow)."""
    if request.param != "sqlite":
        url = request.getfixturevalue("pg_db_url" if request.param == "postgres" else "mongo_db_url")
        return settings.replace(storage={"db_url": url})
    return settings


class Folder:
    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.path = settings.storage.folder_path
        self.storage = storage
        self.user_id = ""

    def blob(self, *, old: bool = True, thumbnails: bool = False) -> str:
        """A blob as the API writes it (and its thumbnails); its name."""
        name = str(uuid.uuid4())
        shutil.copyfile(IMAGES / "hopper.jpg", self.path / name)
        names = [name] + ([f"{name}_{w}" for w in WIDTHS] if thumbnails else [])
        for each in names:
            (self.path / each).touch()
            if old:
                os.utime(self.path / each, (OLD, OLD))
        return name

    async def named(self, name: str, local_path: str | None = None) -> None:
        """A file document naming the blob `name` (by default at its real path)."""
        if not self.user_id:
            self.user_id = (await self.storage.create_user(f"{uuid.uuid4().hex[:8]}@x.io", "x")).id
        await self.storage.create_file(NewFile(
            user_id=self.user_id, name="photo.jpg", type="image", is_public=False, parent_id=ROOT,
            local_path=local_path or str(self.path / name)))

    def exists(self, name: str) -> bool:
        return (self.path / name).exists()

    def all_gone(self, name: str) -> bool:
        return not any(self.exists(n) for n in (name, *(f"{name}_{w}" for w in WIDTHS)))


class Output:
    """The events logged so far (capsys, read as it grows)."""

    def __init__(self, capsys: pytest.CaptureFixture) -> None:
        self.capsys = capsys
        self.text = ""

    def events(self, name: str) -> list[dict]:
        self.text += self.capsys.readouterr().out
        return [e for e in log_events(self.text) if e.get("event") == name]


async def test_orphans_are_swept_at_start_named_young_and_foreign_files_kept(
        storage, settings, run_worker, capsys):
    folder = Folder(settings, storage)
    named = folder.blob(thumbnails=True)
    await folder.named(named)
    elsewhere = folder.blob()  # named by a path in another form (the original's mount point)
    await folder.named(elsewhere, local_path=f"/mnt/old-server/files_manager/{elsewhere}")
    orphan = folder.blob(thumbnails=True)  # its writer was killed before the document
    young = folder.blob(old=False)  # an upload whose document is being written right now
    (folder.path / "notes.txt").write_text("not ours")
    os.utime(folder.path / "notes.txt", (OLD, OLD))
    out = Output(capsys)
    await run_worker(settings)
    await until(lambda: folder.all_gone(orphan), what="the orphan and its thumbnails swept")
    await until(lambda: out.events("sweep.done"), what="the sweep logged")
    [done] = out.events("sweep.done")
    assert done["removed"] == 4 and done["orphans"] == 1
    assert all(folder.exists(n) for n in (named, *(f"{named}_{w}" for w in WIDTHS)))
    assert folder.exists(elsewhere) and folder.exists(young) and folder.exists("notes.txt")


async def test_the_periodic_pass_sweeps_later_orphans(storage, settings, run_worker, capsys):
    folder = Folder(settings, storage)
    for _ in range(3):
        await folder.named(folder.blob())
    first = folder.blob()
    out = Output(capsys)
    await run_worker(settings.replace(worker={"orphan_sweep_every": 0.2}))
    await until(lambda: folder.all_gone(first), what="the start sweep")
    later = folder.blob(thumbnails=True)  # a crash after the start
    await until(lambda: folder.all_gone(later), what="a periodic sweep")
    await until(lambda: len(out.events("sweep.done")) == 2, what="two sweeps logged")


@pytest.mark.parametrize("named_blobs", [0, 1])
async def test_the_safety_valve_refuses_when_the_database_names_none_or_few(
        storage, settings, run_worker, capsys, named_blobs):
    """A DB_URL pointing at an empty (or the wrong) database must not wipe the files."""
    folder = Folder(settings, storage)
    blobs = [folder.blob(thumbnails=True) for _ in range(4)]
    for name in blobs[:named_blobs]:
        await folder.named(name)
    out = Output(capsys)
    await run_worker(settings)
    await until(lambda: out.events("sweep.refused"), what="the sweep refused")
    [refused] = out.events("sweep.refused")
    assert refused["level"] == "error" and refused["files_named_in_database"] == named_blobs
    assert refused["orphans"] == 4 - named_blobs
    assert all(folder.exists(n) for name in blobs for n in (name, f"{name}_100"))
    assert out.events("sweep.done") == []


async def test_one_sweep_at_a_time(storage, settings, redis):
    """Another worker (or machine) holds the lock: this one does not sweep."""
    folder = Folder(settings, storage)
    for _ in range(3):
        await folder.named(folder.blob())
    orphan = folder.blob()
    sweeper = OrphanSweeper(FolderBlobs(folder.path), storage, redis, settings.worker,
                            Control(get_logger("test"), 1.0))
    await redis.set(LOCK_KEY, "another worker", ex=60)
    assert await sweeper.sweep() is None
    assert folder.exists(orphan)
    await redis.delete(LOCK_KEY)
    assert await sweeper.sweep() == 1
    assert not folder.exists(orphan)
    assert await redis.get(LOCK_KEY) is None  # released


def test_a_sweep_needs_orphans_older_than_a_minute(env_for):
    """WORKER_ORPHAN_AGE has a floor: 0 would sweep uploads in progress."""
    from .conftest import cli

    result = cli({**env_for, "WORKER_ORPHAN_AGE": "0"})
    assert result.returncode == 2 and "WORKER_ORPHAN_AGE" in result.stderr

