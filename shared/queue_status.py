"""What an operator reads of the queue: per kind its depth, pending, retries
waiting and consumers; then the dead letters. Read by the operator CLI and /metrics."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from .jobs import DEAD_LETTERS, GROUP, KINDS, delayed_key, stream_of
from .redis_client import text

RECENT_DEAD = 10


async def queue_status(redis: Redis, kinds: tuple[str, ...] = KINDS) -> dict[str, Any]:
    """Per stream: length (unread + in flight), pending (read, not acked),
    delayed (retries waiting), consumers; then the dead letters."""
    streams: dict[str, Any] = {}
    for kind in kinds:
        stream = stream_of(kind)
        pipe = redis.pipeline(transaction=False)
        pipe.xlen(stream)
        pipe.zcard(delayed_key(stream))
        length, delayed = await pipe.execute()
        pending, consumers = 0, 0
        try:
            summary = await redis.xpending(stream, GROUP)
            pending = int(summary["pending"])
            consumers = len(await redis.xinfo_consumers(stream, GROUP))
        except ResponseError:  # no stream or group yet: nothing was ever enqueued
            pass
        streams[kind] = {"length": int(length), "pending": pending,
                         "delayed": int(delayed), "consumers": consumers}
    dead_count = await redis.xlen(DEAD_LETTERS)
    recent = []
    for entry_id, fields in await redis.xrevrange(DEAD_LETTERS, count=RECENT_DEAD):
        fields = {text(k): text(v) for k, v in fields.items()}
        recent.append({"id": text(entry_id), "kind": fields.get("kind"),
                       "data": fields.get("data"), "attempts": int(fields.get("attempts") or 0),
                       "error": fields.get("error")})
    return {"streams": streams, "dead_letters": int(dead_count), "recent_dead": recent}


def format_status(status: dict[str, Any]) -> str:
    lines = [f"{'stream':<12} {'length':>8} {'pending':>8} {'delayed':>8} {'consumers':>10}"]
    for kind, row in status["streams"].items():
        lines.append(f"{kind:<12} {row['length']:>8} {row['pending']:>8} "
                     f"{row['delayed']:>8} {row['consumers']:>10}")
    lines.append(f"dead letters: {status['dead_letters']}")
    for letter in status["recent_dead"]:
        lines.append(f"  {letter['id']} {letter['kind']} {letter['data']} "
                     f"after {letter['attempts']} attempt(s): {letter['error']}")
    return "\n".join(lines)
