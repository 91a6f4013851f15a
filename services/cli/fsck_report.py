"""What `fsck` found, as one JSON document (--json) or as text for a person."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.storage import FileRecord, UsageDrift

from .fsck_repair import Repairs

SHOWN = 20  # items of each kind the text lists (--json lists them all)


@dataclass
class Findings:
    folder: str
    orphan_age: float
    files: int  # documents that name a blob
    blobs: int  # files in the folder named as blobs are (originals and thumbnails)
    missing_blobs: list[FileRecord] = field(default_factory=list)
    orphans: dict[str, list[str]] = field(default_factory=dict)  # base name -> its files
    young: int = 0  # unnamed files younger than the orphan age: left alone
    thumbnails: list[tuple[FileRecord, list[int]]] = field(default_factory=list)
    thumbnails_failed: list[tuple[FileRecord, list[int]]] = field(default_factory=list)
    thumbnails_queued: int = 0
    usage: list[UsageDrift] = field(default_factory=list)

    @property
    def problems(self) -> int:
        return len(self.missing_blobs) + len(self.orphans) + len(self.thumbnails) + len(self.usage)

    def data(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "files_checked": self.files,
            "blob_files_listed": self.blobs,
            "problems": self.problems,
            "missing_blobs": [{"file_id": r.id, "user_id": r.user_id, "name": r.name, "type": r.type,
                               "local_path": r.local_path, "size": r.size, "trashed": r.is_trashed}
                              for r in self.missing_blobs],
            "orphan_blobs": [{"name": base, "files": files} for base, files in sorted(self.orphans.items())],
            "orphan_age": self.orphan_age,
            "unnamed_younger_than_orphan_age": self.young,
            "missing_thumbnails": [{"file_id": r.id, "user_id": r.user_id, "widths": widths}
                                   for r, widths in self.thumbnails],
            "thumbnails_queued": self.thumbnails_queued,
            "thumbnails_failed": [{"file_id": r.id, "user_id": r.user_id, "widths": widths}
                                  for r, widths in self.thumbnails_failed],
            "usage": [{"user_id": d.user_id, "email": d.email, "used_bytes": d.used_bytes,
                       "counted_used_bytes": d.counted_used, "reserved_bytes": d.reserved_bytes,
                       "counted_reserved_bytes": d.counted_reserved} for d in self.usage],
        }


def _listed(lines: list[str], title: str, items: list[str]) -> None:
    lines.append(f"{title}: {len(items)}")
    lines.extend(f"  {item}" for item in items[:SHOWN])
    if len(items) > SHOWN:
        lines.append(f"  ... and {len(items) - SHOWN} more (--json lists them all)")


def report_text(found: Findings, repairs: Repairs | None) -> str:
    lines = [f"checked {found.files} file(s) against {found.blobs} blob file(s) in {found.folder}"]
    _listed(lines, "documents whose blob is missing", [
        f"{r.id} of user {r.user_id}: {r.name!r} ({r.local_path}){' [trashed]' if r.is_trashed else ''}"
        for r in found.missing_blobs])
    _listed(lines, f"blobs no document names (older than {found.orphan_age:g}s)", [
        f"{base}" + (f" (+{len(files) - (base in files)} thumbnail file(s))" if len(files) > (base in files) else "")
        for base, files in sorted(found.orphans.items())])
    if found.young:
        lines.append(f"  ({found.young} unnamed file(s) younger than that left alone: uploads in progress?)")
    _listed(lines, "images missing thumbnails", [
        f"{r.id} of user {r.user_id}: no {', '.join(map(str, widths))}" for r, widths in found.thumbnails])
    if found.thumbnails_queued:
        lines.append(f"  ({found.thumbnails_queued} more have their thumbnails job queued)")
    if found.thumbnails_failed:
        lines.append(f"  ({len(found.thumbnails_failed)} more failed for good: see `queue status`)")
    _listed(lines, "usage counters that differ from the recount", [
        f"{d.email or d.user_id} ({d.user_id}): used {d.used_bytes} stored, {d.counted_used} counted"
        + (f"; reserved {d.reserved_bytes} stored, {d.counted_reserved} counted"
           if d.reserved_bytes != d.counted_reserved else "")
        for d in found.usage])
    if repairs is None:
        lines.append(f"{found.problems} problem(s)" + (": `fsck --repair` fixes them" if found.problems else ""))
        return "\n".join(lines)
    lines.append(
        f"repaired: {len(repairs.documents_removed)} document(s) removed, {repairs.blob_files_removed} orphan "
        f"file(s) removed, {repairs.thumbnail_jobs} thumbnails job(s) enqueued, {repairs.users_recounted} "
        "user(s) recounted")
    lines.extend(f"not repaired: {reason}" for reason in repairs.refused)
    return "\n".join(lines)
