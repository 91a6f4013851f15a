"""Putting dead letters back on their streams (what the operator reads of the
queue is shared/queue_status.py)."""

from __future__ import annotations

from redis.asyncio import Redis

from shared.jobs import KINDS

from .settle import Settler


async def requeue_dead(redis: Redis, kinds: tuple[str, ...] = KINDS) -> int:
    """Move every dead letter back to its stream with attempts reset."""
    return await Settler(redis).requeue_dead(kinds)

