"""Whether the Redis in use keeps anything on disk.

Tokens and queued jobs live in Redis. Jobs are delivered at least once across
crashes of our processes; across a crash of Redis itself only if Redis wrote
them to disk first, which takes its append-only file (`appendonly yes`). RDB
snapshots alone lose what came after the last one; with neither, a Redis
restart loses every token and every queued job. Said once at start (the
master's start checks), so an operator learns it before the first restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError, ResponseError

from .redis_client import text


@dataclass(frozen=True)
class Persistence:
    aof: bool  # appendonly yes: every write logged before it is acknowledged (fsync per appendfsync)
    snapshots: str  # the `save` schedule, "" when RDB snapshots are off


async def persistence_of(redis: Any) -> Persistence | None:
    """What `redis` (a redis.asyncio client) keeps on disk; None when it will not
    say (a managed Redis may refuse or rename CONFIG)."""
    try:
        aof = await redis.config_get("appendonly")
        save = await redis.config_get("save")
    except ResponseError:
        return None
    aof = {text(k): text(v) for k, v in aof.items()}
    save = {text(k): text(v) for k, v in save.items()}
    return Persistence(aof=aof.get("appendonly") == "yes", snapshots=save.get("save", "").strip())


async def warn_if_not_durable(redis: Any, log: Any) -> Persistence | None:
    """Log what a Redis restart would lose: a warning when Redis keeps nothing
    on disk, an info line with snapshots only, nothing with the append-only file."""
    try:
        found = await persistence_of(redis)
    except (RedisError, OSError) as exc:
        log.debug("redis.persistence_unknown", reason=f"{type(exc).__name__}: {exc}")
        return None
    if found is None:
        log.debug("redis.persistence_unknown", reason="CONFIG GET refused")
    elif not found.aof and not found.snapshots:
        log.warning("redis.not_persistent", appendonly="no", save="",
                    consequence="a Redis restart loses every token and queued job; "
                                "set appendonly yes for at-least-once delivery across a Redis crash")
    elif not found.aof:
        log.info("redis.snapshots_only", appendonly="no", save=found.snapshots,
                 consequence="a Redis crash loses the jobs queued since the last snapshot; "
                             "set appendonly yes for at-least-once delivery across a Redis crash")
    return found
