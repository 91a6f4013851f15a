"""Jobs: the one place that names the Redis streams and the job format.

Every process enqueues through its one `shared.enqueuer.Enqueuer`; the worker (services/worker) reads the same
streams through a consumer group. An entry's fields:

    data      JSON of the payload, with the original's names: {"fileId", "userId"};
              a purge's: {"blobs": [names relative to storage.folder_path]}; and
              "requestId", the id of the request that enqueued it (when one did),
              so the job's log lines find their request (and it survives
              retries and dead letters, which carry `data` as it is)
    attempts  how many times the job was tried already ("0" when first enqueued)
    first_at  when it was first enqueued (ms since the epoch), kept across retries
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.storage.base import blob_name

PREFIX = "files_manager:jobs:"
THUMBNAILS = "thumbnails"
WELCOME = "welcome"
PURGE = "purge"  # blobs (and their thumbnails) of files deleted for good
KINDS: tuple[str, ...] = (THUMBNAILS, WELCOME, PURGE)
PURGE_BATCH = 500  # blob names per purge job: a whole trash emptied is a few jobs, not one huge entry
GROUP = "files_manager:workers"
DEAD_LETTERS = PREFIX + "dead"
REQUEST_ID = "requestId"  # the payload's member naming the request that enqueued the job


def stream_of(kind: str) -> str:
    """The stream that carries jobs of `kind` (the product's KINDS, or a kind a
    test or benchmark registers with the worker)."""
    return PREFIX + kind


def delayed_key(stream: str) -> str:
    """The sorted set holding the retries of the jobs of `stream`."""
    return stream + ":delayed"


def kind_of(stream: str | bytes) -> str:
    if isinstance(stream, bytes):
        stream = stream.decode()
    return stream.removeprefix(PREFIX)


@dataclass(frozen=True, slots=True)
class Job:
    kind: str
    payload: Mapping[str, Any]
    attempts: int = 0
    first_at: int = field(default_factory=lambda: int(time.time() * 1000))

    @property
    def request_id(self) -> str | None:
        """The id of the request that enqueued this job, if one did."""
        value = self.payload.get(REQUEST_ID)
        return value if isinstance(value, str) else None

    def fields(self) -> dict[str, str]:
        return {
            "data": json.dumps(dict(self.payload), separators=(",", ":")),
            "attempts": str(self.attempts),
            "first_at": str(self.first_at),
        }

    @classmethod
    def from_fields(cls, kind: str, fields: Mapping[bytes | str, bytes | str]) -> Job:
        """Decode a stream entry. A malformed entry decodes to an empty payload,
        which fails validation (and is dead-lettered) instead of crashing a worker."""
        def text(key: str) -> str:
            value = fields.get(key, fields.get(key.encode(), b""))
            return value.decode(errors="replace") if isinstance(value, bytes) else str(value)

        try:
            payload = json.loads(text("data") or "{}")
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        try:
            attempts = int(text("attempts") or 0)
        except ValueError:
            attempts = 0
        try:
            first_at = int(text("first_at"))
        except ValueError:
            first_at = int(time.time() * 1000)
        return cls(kind=kind, payload=payload, attempts=attempts, first_at=first_at)


def thumbnails_job(file_id: str, user_id: str) -> Job:
    return Job(THUMBNAILS, {"fileId": file_id, "userId": user_id})


def welcome_job(user_id: str) -> Job:
    return Job(WELCOME, {"userId": user_id})


def purge_jobs(local_paths: list[str]) -> list[Job]:
    """The jobs that remove the blobs of purged files (their paths as the
    storage returned them). The folder is flat, so a blob's name is its path
    relative to it, whatever form a legacy document wrote its path in."""
    names = sorted({blob_name(path) for path in local_paths if path})
    return [Job(PURGE, {"blobs": names[start:start + PURGE_BATCH]})
            for start in range(0, len(names), PURGE_BATCH)]
