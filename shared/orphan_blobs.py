"""Blobs no file names: how the folder (or the object store's prefix) is listed, which unnamed blobs are old
enough to judge, and their removal. Shared by the job worker's orphan sweep
(services/worker/sweeper.py) and the operator's `fsck --repair`.

It must never delete a live file, hence:
- only names this service (and the original) make (shared/blobs.py
  BLOB_NAME); anything else in the folder is left alone (`.part` files are
  `remove_stale_parts`' business, tus parts live in `.uploads/`);
- only files older than the orphan age: an upload whose document is being
  written right now is younger (and an old thumbnail of a young original waits
  with it);
- matched against the documents by name, not whole path (a database written
  by the original may hold its paths in another form), asked right before
  removing;
- a safety valve: when the database names no blob at all, or most of the
  folder would go, nothing is removed (a DB_URL pointing at the wrong, or an
  empty, database must not wipe the files);
- the folder is listed and files removed in threads, in batches (an object
  store: listed by pages, removed by DeleteObjects batches).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .blob_store import BlobStore
from .blobs import BLOB_NAME
from .storage import Storage

BATCH = 500  # files removed per thread hop
MOST_OF_THE_FOLDER = 0.5  # more originals than this share would go: refuse


@dataclass
class BlobListing:
    """The folder's blobs: originals (name -> mtime) and, per original's
    name, its thumbnails (width -> mtime), whether the original is there or not."""

    originals: dict[str, float] = field(default_factory=dict)
    thumbnails: dict[str, dict[int, float]] = field(default_factory=dict)

    def add(self, name: str, mtime: float) -> None:
        match = BLOB_NAME.fullmatch(name)
        if match is None:
            return
        base, width = match.groups()
        if width is None:
            self.originals[base] = mtime
        else:
            self.thumbnails.setdefault(base, {})[int(width)] = mtime

    @property
    def files(self) -> int:
        return len(self.originals) + sum(len(widths) for widths in self.thumbnails.values())


def blob_entries(folder: Path) -> Iterator[tuple[str, float]]:
    """Blocking: (name, mtime) of the folder's files named as blobs are."""
    with contextlib.suppress(FileNotFoundError), os.scandir(folder) as entries:
        for entry in entries:
            if BLOB_NAME.fullmatch(entry.name) is None:
                continue
            try:
                if entry.is_file(follow_symlinks=False):
                    yield entry.name, entry.stat(follow_symlinks=False).st_mtime
            except FileNotFoundError:  # removed while we looked
                continue


def list_blobs(folder: Path) -> BlobListing:
    """Blocking: one scandir of the folder."""
    listing = BlobListing()
    for name, mtime in blob_entries(folder):
        listing.add(name, mtime)
    return listing


async def list_store(blobs: BlobStore) -> BlobListing:
    """The store's blobs (by pages; in one thread hop for the folder)."""
    listing = BlobListing()
    async for entry in blobs.listing():
        listing.add(entry.name, entry.modified)
    return listing


def old_blobs(listing: BlobListing, cutoff: float) -> tuple[dict[str, list[str]], int]:
    """Of the listed blobs, those older than `cutoff`: base name -> its files
    (the original if there, and its old thumbnails); and how many files were
    too young to judge."""
    old: dict[str, list[str]] = {}
    young = 0
    for base in set(listing.originals) | set(listing.thumbnails):
        widths = listing.thumbnails.get(base, {})
        mtime = listing.originals.get(base)
        if mtime is not None and mtime > cutoff:
            young += 1 + len(widths)
            continue
        files = [] if mtime is None else [base]
        for width, thumb_mtime in sorted(widths.items(), reverse=True):
            if thumb_mtime <= cutoff:
                files.append(f"{base}_{width}")
            else:
                young += 1
        if files:
            old[base] = files
    return old, young


@dataclass
class Removal:
    removed: int = 0  # files
    orphans: list[str] = field(default_factory=list)  # base names no file names
    orphan_originals: int = 0
    named: int = 0  # files that name a local path at all
    refused: bool = False


async def remove_orphans(storage: Storage, blobs: BlobStore, candidates: dict[str, list[str]],
                         originals: int) -> Removal:
    """Remove the files of `candidates` (from old_blobs) no file names, asked
    of the database now; refused (nothing removed) when the database names no
    blob or more than MOST_OF_THE_FOLDER of the folder's `originals` would go."""
    if not candidates:
        return Removal()
    in_use, named = await storage.blobs_in_use(set(candidates))
    orphans = sorted(base for base in candidates if base not in in_use)
    result = Removal(orphans=orphans, named=named,
                     orphan_originals=sum(1 for base in orphans if base in candidates[base]))
    if not orphans:
        return result
    if named == 0 or result.orphan_originals > originals * MOST_OF_THE_FOLDER:
        result.refused = True
        return result
    doomed = [name for base in orphans for name in candidates[base]]
    for start in range(0, len(doomed), BATCH):
        result.removed += await blobs.remove_files(doomed[start:start + BATCH])
    return result
