"""What an operator reads of the queue: per kind its depth, pending, retries
waiting, consumers, the age of its oldest job and its dead letters; then the
most recent dead letters. Read by the operator CLI and /metrics."""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from .jobs import DEAD_LETTERS, GROUP, KINDS, delayed_key, stream_of
from .redis_client import text

RECENT_DEAD = 10
DEAD_BATCH = 1000  # dead letters read per round trip when counting them by kind


def _entry_ms(entry_id: Any) -> int:
    return int(text(entry_id).split("-", 1)[0])


async def queue_status(redis: Redis, kinds: tuple[str, ...] = KINDS, *,
                       dead_by_kind: bool = True) -> dict[str, Any]:
    """Per stream: length (unread + in flight), pending (read, not acked),
    delayed (retries waiting), consumers, oldest_age (seconds since the
    oldest entry still in the stream was added; None when empty) and, with
    `dead_by_kind`, dead (its dead letters: a walk of the dead-letter stream,
    which a caller polling often may skip); then the dead letters' total and
    the most recent ones. Ages are read on Redis's clock, which wrote the ids."""
    seconds, micros = await redis.time()
    now_ms = seconds * 1000 + micros // 1000
    streams: dict[str, Any] = {}
    for kind in kinds:
        stream = stream_of(kind)
        pipe = redis.pipeline(transaction=False)
        pipe.xlen(stream)
        pipe.zcard(delayed_key(stream))
        pipe.xrange(stream, count=1)
        length, delayed, oldest = await pipe.execute()
        pending, consumers = 0, 0
        try:
            summary = await redis.xpending(stream, GROUP)
            pending = int(summary["pending"])
            consumers = len(await redis.xinfo_consumers(stream, GROUP))
        except ResponseError:  # no stream or group yet: nothing was ever enqueued
            pass
        age = max(0.0, (now_ms - _entry_ms(oldest[0][0])) / 1000) if oldest else None
        streams[kind] = {"length": int(length), "pending": pending, "delayed": int(delayed),
                         "consumers": consumers, "oldest_age": age}
    if dead_by_kind:
        counts = await count_dead_by_kind(redis)
        for kind, row in streams.items():
            row["dead"] = counts.get(kind, 0)
    dead_count = await redis.xlen(DEAD_LETTERS)
    recent = []
    for entry_id, fields in await redis.xrevrange(DEAD_LETTERS, count=RECENT_DEAD):
        fields = {text(k): text(v) for k, v in fields.items()}
        recent.append({"id": text(entry_id), "kind": fields.get("kind"),
                       "data": fields.get("data"), "attempts": int(fields.get("attempts") or 0),
                       "error": fields.get("error"),
                       "age": max(0.0, (now_ms - _entry_ms(entry_id)) / 1000)})
    return {"streams": streams, "dead_letters": int(dead_count), "recent_dead": recent}


async def count_dead_by_kind(redis: Redis) -> dict[str, int]:
    """How many dead letters each kind has (a letter without one counts as "")."""
    counts: dict[str, int] = {}
    start = "-"
    while True:
        entries = await redis.xrange(DEAD_LETTERS, min=start, count=DEAD_BATCH)
        for _, fields in entries:
            kind = text(fields.get(b"kind", fields.get("kind", b"")))
            counts[kind] = counts.get(kind, 0) + 1
        if len(entries) < DEAD_BATCH:
            return counts
        start = "(" + text(entries[-1][0])


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"


def format_status(status: dict[str, Any]) -> str:
    dead_column = all("dead" in row for row in status["streams"].values())
    lines = [f"{'stream':<12} {'length':>8} {'pending':>8} {'delayed':>8} {'consumers':>10} {'oldest':>8}"
             + (f" {'dead':>8}" if dead_column else "")]
    for kind, row in status["streams"].items():
        lines.append(f"{kind:<12} {row['length']:>8} {row['pending']:>8} {row['delayed']:>8} "
                     f"{row['consumers']:>10} {format_age(row['oldest_age']):>8}"
                     + (f" {row['dead']:>8}" if dead_column else ""))
    lines.append(f"dead letters: {status['dead_letters']}")
    for letter in status["recent_dead"]:
        lines.append(f"  {letter['id']} {letter['kind']} {letter['data']} "
                     f"after {letter['attempts']} attempt(s): {letter['error']}")
    return "\n".join(lines)


async def jobs_of(redis: Redis, kind: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The payloads of `kind`'s jobs still to run (waiting, in flight or a
    retry waiting for its time), then those of its dead letters: what a
    check that would enqueue work asks first, so it never doubles a job."""
    stream = stream_of(kind)
    waiting: list[dict[str, Any]] = []
    dead: list[dict[str, Any]] = []

    async def walk(key: str, into: list[dict[str, Any]], of_kind: bool) -> None:
        start = "-"
        while True:
            entries = await redis.xrange(key, min=start, count=DEAD_BATCH)
            for _, fields in entries:
                fields = {text(k): text(v) for k, v in fields.items()}
                if not of_kind or fields.get("kind") == kind:
                    into.append(_payload(fields.get("data")))
            if len(entries) < DEAD_BATCH:
                return
            start = "(" + text(entries[-1][0])

    await walk(stream, waiting, of_kind=False)
    offset = 0
    while members := await redis.zrange(delayed_key(stream), offset, offset + DEAD_BATCH - 1):
        for member in members:
            waiting.append(_payload(_member_data(text(member))))
        offset += len(members)
    await walk(DEAD_LETTERS, dead, of_kind=True)
    return waiting, dead


def _member_data(member: str) -> str | None:
    try:
        data = json.loads(member).get("data")
    except (ValueError, AttributeError):
        return None
    return data if isinstance(data, str) else None


def _payload(data: str | None) -> dict[str, Any]:
    try:
        payload = json.loads(data or "{}")
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}
