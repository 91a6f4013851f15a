"""`python supervisor.py fsck [--repair]` on real damage: a blob deleted, stray
blobs old and young, thumbnails missing, a usage counter off. It reports each
(exit 1), --repair fixes each, a second run finds nothing (exit 0), and the
thumbnails it re-enqueued are made by a real worker."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from redis.asyncio import Redis

from services.worker.settle import Settler
from services.worker.thumbnails import make_thumbnails
from shared.blobs import THUMBNAIL_WIDTHS
from shared.config import Settings
from shared.enqueuer import Enqueuer
from shared.jobs import GROUP, THUMBNAILS, Job, stream_of, thumbnails_job
from shared.open_blobs import open_blob_store
from shared.storage import ROOT, FileRecord, NewFile, Storage, new_id
from tests.conftest import IMAGES, PROJECT, free_port, until
from tests.engines.s3 import remove_stored, store_bytes, stored_entries, with_s3
from tests.storage.test_contract_scan import set_used_bytes
from tests.worker.conftest import WorkerProcess

from .conftest import supervisor

OLD = time.time() - 2 * 3600  # past the default orphan age (1 h)


async def put(storage: Storage, folder: Path, user_id: str, content: bytes | str, *, type_: str = "file",
              thumbnails: bool = False) -> FileRecord:
    """A file as an upload leaves it: its blob (an old one) and its document."""
    path = folder / str(uuid.uuid4())
    if isinstance(content, str):
        shutil.copyfile(IMAGES / content, path)
    else:
        path.write_bytes(content)
    if thumbnails:
        make_thumbnails(str(path), 50_000_000)
    for each in [path, *(Path(f"{path}_{w}") for w in THUMBNAIL_WIDTHS if thumbnails)]:
        os.utime(each, (OLD, OLD))
    return await storage.create_file(NewFile(user_id, f"{type_}-{path.name[:8]}", type_, False, ROOT, str(path),
                                             size=path.stat().st_size))


def stray(folder: Path, *suffixes: str, old: bool = True) -> list[Path]:
    """Files as blobs are named, that no document names."""
    name = str(uuid.uuid4())
    paths = [folder / f"{name}{suffix}" for suffix in ("", *suffixes)]
    for path in paths:
        path.write_bytes(b"left behind")
        if old:
            os.utime(path, (OLD, OLD))
    return paths


async def dead_letter(redis: Redis, record: FileRecord, error: str) -> None:
    """A thumbnails job failed for good, put in the dead letters by the worker's own Settler."""
    stream = stream_of(THUMBNAILS)
    await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    entry = await Enqueuer(redis).enqueue(thumbnails_job(record.id, record.user_id))
    [[_, [(read_id, fields)]]] = await redis.xreadgroup(GROUP, "test", {stream: ">"}, count=1)
    assert read_id.decode() == entry
    assert await Settler(redis).dead(stream, entry, Job.from_fields(THUMBNAILS, fields), error)


async def queued_file_ids(redis: Redis) -> set[str]:
    return {Job.from_fields(THUMBNAILS, f).payload["fileId"] for _, f in await redis.xrange(stream_of(THUMBNAILS))}


async def stream_empty(redis: Redis) -> bool:
    return await redis.xlen(stream_of(THUMBNAILS)) == 0


async def test_fsck_reports_real_damage_and_repair_fixes_it(env, storage, redis, backend_settings, tmp_path):
    folder = backend_settings.storage.folder_path
    alice = (await storage.create_user("alice@example.com", "x")).id
    bob = (await storage.create_user("bob@example.com", "x")).id
    files = [await put(storage, folder, alice, b"a" * (100 + i)) for i in range(4)]
    files += [await put(storage, folder, bob, b"b" * 50) for _ in range(2)]
    whole = await put(storage, folder, alice, "hopper.jpg", type_="image", thumbnails=True)
    bare = await put(storage, folder, alice, "hopper.jpg", type_="image")
    partial = await put(storage, folder, bob, "flower.jpg", type_="image", thumbnails=True)
    os.unlink(f"{partial.local_path}_250")
    failed = await put(storage, folder, bob, b"not an image", type_="image")
    await dead_letter(redis, failed, "Image rejected: cannot identify image file")
    queued = await put(storage, folder, bob, "hopper.jpg", type_="image")
    await Enqueuer(redis).enqueue(thumbnails_job(queued.id, bob))
    gone = files[0]
    os.unlink(gone.local_path)
    gone_image = await put(storage, folder, alice, "flower.jpg", type_="image", thumbnails=True)
    os.unlink(gone_image.local_path)  # its thumbnails stay: named by its document, no orphans
    orphan = stray(folder, "_500", "_100")
    young = stray(folder, old=False)  # an upload whose document is being written: not judged
    (folder / ".uploads").mkdir()
    not_blobs = [folder / f".{uuid.uuid4()}.part", folder / ".uploads" / f"{new_id()}.part", folder / "notes.txt"]
    for path in not_blobs:
        path.write_bytes(b"not a blob")
        os.utime(path, (OLD, OLD))
    bob_bytes = 2 * 50 + sum(Path(r.local_path).stat().st_size for r in (partial, failed, queued))
    await set_used_bytes(storage, bob, 5)

    text = supervisor(env, "fsck")
    assert text.code == 1, text.stderr
    out = text.stdout
    assert "documents whose blob is missing: 2" in out and gone.id in out and gone_image.id in out
    assert "blobs no document names (older than 3600s): 1" in out and orphan[0].name in out
    assert "images missing thumbnails: 2" in out and bare.id in out and f"{partial.id} of user {bob}: no 250" in out
    assert "usage counters that differ from the recount: 1" in out
    assert f"bob@example.com ({bob}): used 5 stored, {bob_bytes} counted" in out
    assert out.rstrip().endswith("6 problem(s): `fsck --repair` fixes them")

    found = supervisor(env, "fsck", "--json")
    assert found.code == 1, found.stderr
    data = found.json()
    assert data["problems"] == 6
    assert data["files_checked"] == 12
    assert sorted((m["file_id"], m["user_id"], m["type"]) for m in data["missing_blobs"]) == sorted(
        [(gone.id, alice, "file"), (gone_image.id, alice, "image")])
    assert data["orphan_blobs"] == [{"name": orphan[0].name, "files": [p.name for p in orphan]}]
    assert data["unnamed_younger_than_orphan_age"] == 1
    assert sorted((t["file_id"], t["widths"]) for t in data["missing_thumbnails"]) == sorted(
        [(bare.id, [500, 250, 100]), (partial.id, [250])])
    assert data["thumbnails_queued"] == 1
    assert [t["file_id"] for t in data["thumbnails_failed"]] == [failed.id]
    assert [(u["user_id"], u["used_bytes"], u["counted_used_bytes"]) for u in data["usage"]] == [(bob, 5, bob_bytes)]

    repaired = supervisor(env, "fsck", "--repair", "--json")
    assert repaired.code == 0, repaired.stderr
    assert repaired.json()["repaired"] == {
        "documents_removed": sorted([gone.id, gone_image.id]), "blob_files_removed": 3, "thumbnail_jobs": 2,
        "users_recounted": 1, "refused": []}
    assert await storage.file_with_trashed(alice, gone.id) is None
    assert await storage.file_with_trashed(alice, gone_image.id) is None
    assert not any(os.path.exists(f"{gone_image.local_path}_{w}") for w in THUMBNAIL_WIDTHS)
    assert not any(p.exists() for p in orphan)
    assert all(p.exists() for p in [*young, *not_blobs])
    assert all(Path(r.local_path).exists() for r in [*files[1:], whole, bare, partial, failed, queued])
    assert await queued_file_ids(redis) == {bare.id, partial.id, queued.id}
    assert (await storage.usage(bob)).used_bytes == bob_bytes
    assert (await storage.usage(alice)).used_bytes == sum(r.size or 0 for r in [*files[1:4], whole, bare])

    again = supervisor(env, "fsck")
    assert again.code == 0, again.stdout + again.stderr
    assert again.stdout.rstrip().endswith("0 problem(s)")
    assert "(3 more have their thumbnails job queued)" in again.stdout

    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        await until(lambda: all(os.path.exists(f"{r.local_path}_{w}") for r in (bare, partial, queued)
                                for w in THUMBNAIL_WIDTHS), timeout=60, what="the thumbnails made")
        await until(lambda: stream_empty(redis), timeout=60, what="the jobs acknowledged")
    finally:
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.wait() == 0, worker.output()[-2000:]
    after = supervisor(env, "fsck", "--json")
    assert after.code == 0, after.stderr
    assert after.json()["problems"] == 0 and after.json()["thumbnails_queued"] == 0


async def test_repair_refuses_a_wrong_folder_or_a_wrong_database(env_for, settings: Settings, tmp_path):
    """The blob folder gone (a disk not mounted) makes every document "missing";
    DB_URL naming an empty database makes every blob an orphan. Neither is
    repaired: the operator is told which setting to check."""
    from shared.storage import open_storage

    folder = settings.storage.folder_path
    folder.mkdir(parents=True)
    storage = await open_storage(settings.storage.db_url)
    try:
        user = (await storage.create_user("carol@example.com", "x")).id
        records = [await put(storage, folder, user, b"c" * 10) for _ in range(3)]
    finally:
        await storage.close()
    folder.rename(tmp_path / "unmounted")
    wrong_folder = supervisor(env_for, "fsck", "--repair")
    assert wrong_folder.code == 1
    assert "documents whose blob is missing: 3" in wrong_folder.stdout
    assert "3 of 3 documents have no blob: is FOLDER_PATH" in wrong_folder.stderr
    assert "documents were left alone" in wrong_folder.stderr
    (tmp_path / "unmounted").rename(folder)

    empty_db = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    other = await open_storage(empty_db)  # made (and migrated) here: the command's output stays its own
    await other.close()
    wrong_db = supervisor({**env_for, "DB_URL": empty_db}, "fsck", "--repair", "--json")
    assert wrong_db.code == 1
    assert "is DB_URL" in wrong_db.stderr
    assert wrong_db.json()["repaired"]["blob_files_removed"] == 0
    assert all(Path(r.local_path).exists() for r in records)

    fine = supervisor(env_for, "fsck")
    assert fine.code == 0, fine.stdout + fine.stderr
    assert fine.stdout.startswith("checked 3 file(s) against 3 blob file(s)")  # every document kept


def _through_a_terminal(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal (stdout a pipe): (exit code, stdout, what the terminal got)."""
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, str(PROJECT / "supervisor.py"), *args], cwd=PROJECT, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the process closed its side
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    stdout = proc.stdout.read().decode() if proc.stdout else ""
    return proc.wait(60), stdout, seen.decode(errors="replace")


async def test_the_progress_bar_is_drawn_on_a_terminal_and_only_there(env_for, settings: Settings):
    from shared.storage import open_storage

    folder = settings.storage.folder_path
    folder.mkdir(parents=True)
    storage = await open_storage(settings.storage.db_url)
    try:
        user = (await storage.create_user("dan@example.com", "x")).id
        for _ in range(3):
            await put(storage, folder, user, b"d")
    finally:
        await storage.close()

    code, stdout, terminal = _through_a_terminal(env_for, "fsck")
    assert code == 0, terminal
    assert "\r[" in terminal and "3/3 files checked" in terminal and "3 blobs listed" in terminal
    assert "files checked" not in stdout and "0 problem(s)" in stdout

    piped = supervisor(env_for, "fsck")
    assert piped.code == 0
    assert "files checked" not in piped.stderr and "\r" not in piped.stderr + piped.stdout

    code, stdout, terminal = _through_a_terminal(env_for, "fsck", "--json")
    assert code == 0
    assert "files checked" not in terminal  # a script reads --json: no drawing, even on a terminal


def test_fsck_without_redis_says_so_without_the_url(env_for):
    env = {**env_for, "REDIS_URL": f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0"}
    ran = supervisor(env, "fsck")
    assert ran.code == 1
    assert "Redis is unreachable" in ran.stderr
    assert "s3cret" not in ran.stderr + ran.stdout


async def test_fsck_on_a_bucket_reports_and_repairs(env, storage, redis, settings, s3_bucket, tmp_path):
    """The same walk with content in S3: a blob deleted, an image missing one
    thumbnail, the repair fixes each; a stray blob with a thumbnail is judged
    by its LastModified (which S3 sets itself: young here, so left alone;
    the worker's sweep removes old ones, tests/worker/test_s3_blobs.py)."""
    s3 = with_s3(settings, s3_bucket)
    env = {**env, **s3_bucket.env}
    alice = (await storage.create_user("alice@example.com", "x")).id
    local = tmp_path / "local"
    local.mkdir()

    async def put_s3(content: bytes | str, type_: str = "file", thumbnails: bool = False) -> FileRecord:
        path = local / str(uuid.uuid4())
        path.write_bytes(content if isinstance(content, bytes) else (IMAGES / content).read_bytes())
        if thumbnails:
            make_thumbnails(str(path), 50_000_000)
        async with open_blob_store(s3) as blobs:
            location = blobs.location(path.name)
            for each in [path, *(Path(f"{path}_{w}") for w in THUMBNAIL_WIDTHS if thumbnails)]:
                await blobs.put_file(location + each.name[len(path.name):], str(each))
        return await storage.create_file(NewFile(alice, f"{type_}-{path.name[:8]}", type_, False, ROOT, location,
                                                 size=path.stat().st_size))

    kept = await put_s3(b"kept")
    gone = await put_s3(b"gone")
    partial = await put_s3("hopper.jpg", type_="image", thumbnails=True)
    remove_stored(s3, gone.local_path.rsplit("/", 1)[1])
    remove_stored(s3, f"{partial.local_path.rsplit('/', 1)[1]}_250")
    orphan = str(uuid.uuid4())
    store_bytes(s3, orphan, b"left behind")
    store_bytes(s3, f"{orphan}_100", b"left behind")
    store_bytes(s3, ".uploads/chunk", b"not a blob")

    found = supervisor(env, "fsck", "--json")
    assert found.code == 1, found.stderr
    data = found.json()
    assert [m["file_id"] for m in data["missing_blobs"]] == [gone.id]
    assert (data["orphan_blobs"], data["unnamed_younger_than_orphan_age"]) == ([], 2)
    assert [(t["file_id"], t["widths"]) for t in data["missing_thumbnails"]] == [(partial.id, [250])]

    repaired = supervisor(env, "fsck", "--repair", "--json")
    assert repaired.code == 0, repaired.stderr
    assert repaired.json()["repaired"] == {
        "documents_removed": [gone.id], "blob_files_removed": 0, "thumbnail_jobs": 1,
        "users_recounted": 0, "refused": []}
    assert await storage.file_with_trashed(alice, gone.id) is None
    entries = stored_entries(s3)
    assert {orphan, f"{orphan}_100", kept.local_path.rsplit("/", 1)[1], ".uploads"} <= set(entries)
    assert await queued_file_ids(redis) == {partial.id}


async def test_fsck_says_when_the_bucket_is_missing(env, s3_bucket):
    done = supervisor({**env, **s3_bucket.env, "BLOB_URL": "s3://no-such-bucket-here/x"}, "fsck")
    assert done.code == 1
    assert "the bucket 'no-such-bucket-here' does not exist" in done.stderr
