"""What `fsck --repair` does about each finding, and why.

- A document whose blob is missing is deleted for good (storage.purge_file:
  its share links go with it and its bytes leave the user's usage). Its
  content is gone, so every download of it fails; the name and place are the
  only things left, and fsck prints them (and --json lists them) before they
  go: nothing that still exists is lost silently. Each is checked again just
  before (its content may have been replaced meanwhile). Refused when more
  than half of the documents' blobs are missing: FOLDER_PATH (or DB_URL) is
  more likely wrong than the files gone, and a wrong folder must not empty
  the database.
- Orphan blobs (and their thumbnails), past the orphan age, are removed as
  the worker's sweep removes them (shared/orphan_blobs.py: the database is
  asked once more whether it names them; refused when it names no blob or
  most of the folder would go).
- Images missing thumbnails get a thumbnails job (the worker writes them).
- Usage counters are set to the recount.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared import orphan_blobs
from shared.blob_store import BlobStore
from shared.enqueuer import Enqueuer
from shared.errors import NotFound
from shared.jobs import thumbnails_job
from shared.storage import FileRecord, Storage, UsageDrift

from .fsck_scan import Finder

MOST = 0.5  # more than this share of the documents would go: refuse


@dataclass
class Repairs:
    documents_removed: list[str] = field(default_factory=list)
    blob_files_removed: int = 0
    thumbnail_jobs: int = 0
    users_recounted: int = 0
    refused: list[str] = field(default_factory=list)  # why a kind of repair was not made


async def remove_missing(storage: Storage, finder: Finder, missing: list[FileRecord], files: int,
                         repairs: Repairs) -> None:
    if not missing:
        return
    if len(missing) > files * MOST:
        where = (f"FOLDER_PATH ({finder.folder}) the right folder, and mounted" if finder.local
                 else "BLOB_URL the right bucket and prefix")
        repairs.refused.append(
            f"{len(missing)} of {files} documents have no blob: is {where}? "
            "Their documents were left alone.")
        return
    blobs = finder.blobs
    for record in missing:
        now = await storage.file_with_trashed(record.user_id, record.id)
        if now is None:
            continue  # gone meanwhile
        if now.local_path != record.local_path or await finder.exists(now):
            continue  # new content, or the blob came back
        try:
            paths = await storage.purge_file(record.user_id, record.id)
        except NotFound:
            continue
        for path in paths:  # the blob is gone; its thumbnails may not be
            await blobs.remove(path)
        repairs.documents_removed.append(record.id)


async def remove_orphans(storage: Storage, blobs: BlobStore, orphans: dict[str, list[str]], originals: int,
                         repairs: Repairs) -> None:
    removal = await orphan_blobs.remove_orphans(storage, blobs, orphans, originals)
    repairs.blob_files_removed = removal.removed
    if removal.refused:
        repairs.refused.append(
            f"{removal.orphan_originals} of the folder's {originals} blobs would go, and the database names "
            f"{removal.named}: is DB_URL (or FOLDER_PATH) the right one? No blob was removed.")


async def enqueue_thumbnails(enqueuer: Enqueuer, records: list[FileRecord], repairs: Repairs) -> None:
    for record in records:
        await enqueuer.enqueue(thumbnails_job(record.id, record.user_id))
        repairs.thumbnail_jobs += 1


async def recount(storage: Storage, drifts: list[UsageDrift], repairs: Repairs) -> None:
    for drift in drifts:
        await storage.recount_usage(drift.user_id)
        repairs.users_recounted += 1
