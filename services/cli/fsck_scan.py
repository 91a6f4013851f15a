"""What `fsck` reads: the blob folder (one os.scandir, in a thread, a chunk at
a time) and every file document (a page at a time), compared by blob name.

A document's blob counts as there when the folder holds its name or its own
local path exists (a database written by the original may hold its paths in
another form; the API serves the stored path). Only names this service makes
are judged (shared/blobs.py BLOB_NAME): `.part` files, tus parts under
`.uploads/` and anything else in the folder are left alone. With content in
an object store, the bucket's prefix is listed (by pages) and a document's
blob looked up by its key (`Finder`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from shared.blob_store import BlobStore
from shared.blobs import THUMBNAIL_WIDTHS, FolderBlobs, thumbnail_path
from shared.errors import NotFound
from shared.orphan_blobs import BlobListing, blob_entries
from shared.storage import FileRecord, Storage
from shared.storage.base import blob_name

from .output import Output

CHUNK = 1000  # folder entries per thread hop
PAGE = 1000  # documents per storage read


@dataclass
class Walk:
    """What the documents say about the folder. The walk takes each blob a
    document names out of the listing (memory shrinks as it goes): what is
    left at the end, no document names."""

    files: int = 0
    missing_blobs: list[FileRecord] = field(default_factory=list)
    # Live images and the widths whose thumbnail file was not there when listed.
    thumbnail_gaps: list[tuple[FileRecord, list[int]]] = field(default_factory=list)


def _next_chunk(entries: Iterator[tuple[str, float]]) -> list[tuple[str, float]]:
    chunk = []
    for item in entries:
        chunk.append(item)
        if len(chunk) >= CHUNK:
            break
    return chunk


async def list_folder(folder: Path, out: Output) -> BlobListing:
    """The folder's blobs, a chunk per thread hop (the bar moves as it goes)."""
    listing = BlobListing()
    entries = blob_entries(folder)
    with out.progress(None, "blobs listed") as bar:
        while chunk := await asyncio.to_thread(_next_chunk, entries):
            for name, mtime in chunk:
                listing.add(name, mtime)
            bar.advance(len(chunk))
    return listing


async def list_store(blobs: BlobStore, out: Output) -> BlobListing:
    """The store's blobs, a page at a time (the bar moves as it goes)."""
    listing = BlobListing()
    with out.progress(None, "blobs listed") as bar:
        async for entry in blobs.listing():
            listing.add(entry.name, entry.modified)
            bar.advance(1)
    return listing


class Finder:
    """Whether a document's blob (and which of its thumbnails) are there:
    files in the folder (in a thread, as many at a time as asked), or
    objects in the store (one HEAD each)."""

    def __init__(self, blobs: BlobStore, folder: Path) -> None:
        self.blobs = blobs
        self.folder = folder
        self.local = isinstance(blobs, FolderBlobs)

    async def elsewhere(self, records: list[FileRecord]) -> list[tuple[bool, list[int]]]:
        if self.local:
            return await asyncio.to_thread(_elsewhere, records, self.folder)
        found: list[tuple[bool, list[int]]] = []
        for record in records:
            location = record.local_path or ""
            found.append((True, await self._thumbnails_missing(location)) if await self._there(location)
                         else (False, []))
        return found

    async def exists(self, record: FileRecord) -> bool:
        if self.local:
            return await asyncio.to_thread(blob_path, record, self.folder) is not None
        return await self._there(record.local_path or "")

    async def still_missing(self, gaps: list[tuple[FileRecord, list[int]]]) -> list[tuple[FileRecord, list[int]]]:
        if self.local:
            return await asyncio.to_thread(still_missing, gaps, self.folder)
        left = []
        for record, _ in gaps:
            location = record.local_path or ""
            missing = await self._thumbnails_missing(location) if await self._there(location) else []
            if missing:
                left.append((record, missing))
        return left

    async def _there(self, location: str) -> bool:
        try:
            await self.blobs.info(location)
            return True
        except NotFound:
            return False

    async def _thumbnails_missing(self, location: str) -> list[int]:
        return [w for w in THUMBNAIL_WIDTHS if not await self._there(thumbnail_path(location, w))]


def blob_path(record: FileRecord, folder: Path) -> str | None:
    """Blocking: where the document's blob is (its stored path, else the
    folder's file of that name); None: nowhere."""
    for path in (record.local_path or "", str(folder / blob_name(record.local_path or ""))):
        if os.path.isfile(path):
            return path
    return None


def thumbnails_missing(path: str) -> list[int]:
    """Blocking: the widths whose thumbnail is not beside the blob at `path`."""
    return [w for w in THUMBNAIL_WIDTHS if not os.path.isfile(thumbnail_path(path, w))]


def _elsewhere(records: list[FileRecord], folder: Path) -> list[tuple[bool, list[int]]]:
    """Blocking: for documents whose blob name the listing lacks, whether the
    blob is there now (written since the listing, or at a stored path of
    another form) and which thumbnail widths are missing beside it."""
    found: list[tuple[bool, list[int]]] = []
    for record in records:
        path = blob_path(record, folder)
        found.append((False, []) if path is None else (True, thumbnails_missing(path)))
    return found


async def walk_documents(storage: Storage, finder: Finder, listing: BlobListing, out: Output) -> Walk:
    walk = Walk()
    total = await storage.count_files_with_blobs()
    after: str | None = None
    with out.progress(total, "files checked") as bar:
        while page := await storage.files_with_blobs(after, PAGE):
            after = page[-1].id
            unlisted = []
            for record in page:
                name = blob_name(record.local_path or "")
                if listing.originals.pop(name, None) is not None:
                    have = listing.thumbnails.pop(name, {})
                    _note_gaps(walk, record, [w for w in THUMBNAIL_WIDTHS if w not in have])
                else:  # not listed, or named by an earlier document too
                    unlisted.append(record)
            if unlisted:
                for record, (there, gaps) in zip(unlisted, await finder.elsewhere(unlisted), strict=True):
                    # Its thumbnails are named by it even when its blob is gone
                    # (repairing the document removes them; they are no orphans).
                    listing.thumbnails.pop(blob_name(record.local_path or ""), None)
                    if there:
                        _note_gaps(walk, record, gaps)
                    else:
                        walk.missing_blobs.append(record)
            walk.files += len(page)
            bar.advance(len(page))
    return walk


def _note_gaps(walk: Walk, record: FileRecord, gaps: list[int]) -> None:
    # Only live images: the worker makes no thumbnails for a trashed file
    # (a restored one is checked again at the next fsck).
    if gaps and record.type == "image" and not record.is_trashed:
        walk.thumbnail_gaps.append((record, gaps))


def still_missing(gaps: list[tuple[FileRecord, list[int]]], folder: Path) -> list[tuple[FileRecord, list[int]]]:
    """Blocking: of `gaps`, those whose thumbnails are still not all there
    (a worker may have written them since the listing)."""
    left = []
    for record, _ in gaps:
        path = blob_path(record, folder)
        missing = thumbnails_missing(path) if path is not None else []
        if missing:
            left.append((record, missing))
    return left
