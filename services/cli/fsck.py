"""`python supervisor.py fsck [--repair]`: do the database and the blob
folder agree? Reports documents whose blob is missing, blobs no document
names (past WORKER_ORPHAN_AGE: younger ones may be uploads whose document is
being written), live images missing thumbnails (not counting those whose job
is queued, or failed for good: a dead letter says why) and usage counters
that differ from a recount. --repair fixes each (fsck_repair.py says how).
Exit 0: nothing found (or all repaired); 1: problems left."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.blob_store import BlobStore
from shared.blobs import FolderBlobs
from shared.config import Settings
from shared.enqueuer import Enqueuer
from shared.errors import StorageUnavailable
from shared.jobs import THUMBNAILS
from shared.open_blobs import open_blob_store
from shared.orphan_blobs import old_blobs
from shared.queue_status import jobs_of
from shared.redis_client import open_redis
from shared.storage import FileRecord, Storage, open_configured_storage

from . import fsck_repair
from .fsck_report import Findings, report_text
from .fsck_scan import Finder, list_folder, list_store, walk_documents
from .output import EXIT_OK, EXIT_PROBLEM, Output


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "fsck", parents=[common], help="check (and --repair) the database against the blob folder",
        description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repair", action="store_true",
                        help="fix what is found: delete documents whose blob is gone (listed first), remove "
                             "orphan blobs, enqueue thumbnails jobs, set usage counters to the recount")
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    # The storage logs as it opens (and migrates): to stderr, so that stdout
    # holds the answer alone and --json stays one document.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    try:
        storage = await open_configured_storage(settings.storage)
    except StorageUnavailable as exc:
        out.problem(f"the database is unreachable: {exc}")
        return EXIT_PROBLEM
    redis = open_redis(settings.redis.url)
    try:
        async with open_blob_store(settings) as blobs:
            return await _fsck(args.repair, settings, storage, redis, blobs, out)
    except StorageUnavailable as exc:
        out.problem(f"the database or the object store failed: {exc}")
        return EXIT_PROBLEM
    except (RedisError, OSError) as exc:
        out.problem(f"Redis is unreachable ({type(exc).__name__}); check REDIS_URL")
        return EXIT_PROBLEM
    finally:
        await redis.aclose()
        await storage.close()


async def _fsck(repair: bool, settings: Settings, storage: Storage, redis: Redis, blobs: BlobStore,
                out: Output) -> int:
    folder = settings.storage.folder_path
    where = str(folder) if isinstance(blobs, FolderBlobs) else settings.storage.blob_url
    age = settings.worker.orphan_age
    await redis.ping()  # unreachable: say so before a long walk
    await blobs.check()  # a missing bucket: say so before a long walk
    cutoff = time.time() - age
    listing = await list_folder(folder, out) if isinstance(blobs, FolderBlobs) else await list_store(blobs, out)
    listed, originals = listing.files, len(listing.originals)
    finder = Finder(blobs, folder)
    walk = await walk_documents(storage, finder, listing, out)
    orphans, young = await asyncio.to_thread(old_blobs, listing, cutoff)  # what the walk left: unnamed
    waiting, dead = await jobs_of(redis, THUMBNAILS)
    queued = {str(p.get("fileId")) for p in waiting}
    failed = {str(p.get("fileId")) for p in dead}
    gaps = [(r, w) for r, w in walk.thumbnail_gaps if r.id not in queued]
    gaps = await finder.still_missing(gaps)
    findings = Findings(
        folder=where, orphan_age=age, files=walk.files,
        blobs=listed,
        missing_blobs=walk.missing_blobs, orphans=orphans, young=young,
        thumbnails=[(r, w) for r, w in gaps if r.id not in failed],
        thumbnails_failed=[(r, w) for r, w in gaps if r.id in failed],
        thumbnails_queued=sum(1 for r, _ in walk.thumbnail_gaps if r.id in queued),
        usage=await storage.usage_drifts(),
    )
    data = findings.data()
    if not repair:
        out.result(data, report_text(findings, None))
        return EXIT_PROBLEM if findings.problems else EXIT_OK
    repairs = fsck_repair.Repairs()
    await fsck_repair.remove_missing(storage, finder, findings.missing_blobs, walk.files, repairs)
    await fsck_repair.remove_orphans(storage, blobs, orphans, originals, repairs)
    thumbnail_records: list[FileRecord] = [r for r, _ in findings.thumbnails]
    async with Enqueuer(redis, settings.redis.replica_wait_timeout) as enqueuer:
        await fsck_repair.enqueue_thumbnails(enqueuer, thumbnail_records, repairs)
    await fsck_repair.recount(storage, findings.usage, repairs)
    data["repaired"] = {
        "documents_removed": repairs.documents_removed, "blob_files_removed": repairs.blob_files_removed,
        "thumbnail_jobs": repairs.thumbnail_jobs, "users_recounted": repairs.users_recounted,
        "refused": repairs.refused,
    }
    out.result(data, report_text(findings, repairs))
    for reason in repairs.refused:
        out.problem(f"fsck: not repaired: {reason}")
    return EXIT_PROBLEM if repairs.refused else EXIT_OK
