"""Reclaiming: entries whose consumer went silent are claimed and run here;
the entries we hold are kept fresh so nobody claims a slow job of ours; and
consumers that are gone are removed from the groups.

"Gone" is precise: every worker keeps a liveness key in Redis (`alive_key`),
set at start and refreshed by each reaper pass, that expires `claim_idle`
after its last refresh, and deletes it at a graceful stop. A consumer
without that key and with nothing pending (its entries were claimed by a
live worker) is removed by one Lua script that checks both and deletes it
(XGROUP DELCONSUMER) as a unit, so a worker coming back under the same name
(`--name`) can never lose pending entries to a delete that raced its return.
Without this, each killed worker (its name is unique) would stay listed in
XINFO CONSUMERS for good."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.config import WorkerSettings
from shared.jobs import GROUP
from shared.redis_client import text

from .acker import Acker
from .control import REDIS_DOWN, Control
from .reader import Groups, Reader
from .slots import Slots

LEAVE_TIMEOUT = 1.0  # a stop does not wait longer for Redis to hear we leave


def alive_key(consumer: str) -> str:
    """The key that says a worker of this consumer name is running."""
    return f"{GROUP}:alive:{consumer}"


# KEYS: the consumer's liveness key, the stream.  ARGV: group, consumer.
# Returns 1 if the consumer was removed from the stream's group.
_FORGET = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local ok, mine = pcall(redis.call, 'XPENDING', KEYS[2], ARGV[1], '-', '+', 1, ARGV[2])
if not ok or #mine > 0 then
  return 0
end
redis.call('XGROUP', 'DELCONSUMER', KEYS[2], ARGV[1], ARGV[2])
return 1
"""


async def forget_if_gone(redis: Redis, stream: str, consumer: str) -> bool:
    """Remove `consumer` from the stream's group if it has no liveness key and
    holds nothing, atomically; True if it was removed."""
    script = redis.register_script(_FORGET)
    return bool(await script(keys=[alive_key(consumer), stream], args=[GROUP, consumer]))


class Reaper:
    def __init__(self, redis: Redis, name: str, kinds: Mapping[str, str], settings: WorkerSettings,
                 groups: Groups, reader: Reader, acker: Acker, slots: Slots, control: Control) -> None:
        """`kinds` by stream."""
        self._redis = redis
        self._name = name
        self._kinds = kinds
        self._streams: Sequence[str] = list(kinds)
        self._settings = settings
        self._groups = groups
        self._reader = reader
        self._acker = acker
        self._slots = slots
        self._control = control
        self._cursor = dict.fromkeys(self._streams, "0-0")
        self._alive_ms = int(settings.claim_idle * 1000)

    async def arrive(self) -> None:
        """Say this worker is running (before its first read)."""
        await self._redis.set(alive_key(self._name), "1", px=self._alive_ms)

    async def leave(self) -> None:
        """After a graceful stop: no longer running; our consumer goes at once
        if it holds nothing (entries left pending keep it until claimed)."""
        try:
            async with asyncio.timeout(LEAVE_TIMEOUT):
                await self._redis.delete(alive_key(self._name))
                for stream in self._streams:
                    await forget_if_gone(self._redis, stream, self._name)
        except (*REDIS_DOWN, TimeoutError) as exc:  # the key expires; the others remove the consumer
            self._control.log.warning("worker.leave_failed", error=f"{type(exc).__name__}: {exc}")

    async def run(self) -> None:
        control = self._control
        claim_idle = self._settings.claim_idle
        # Our own entries are refreshed once idle for a quarter of claim_idle;
        # passes come at least that often, so they are never older than
        # claim_idle / 2 when refreshed, well before anyone may claim them.
        interval = max(0.05, min(claim_idle / 4, 5.0))
        min_idle_ms = int(claim_idle * 1000)
        refresh_ms = int(claim_idle * 250)
        while not control.stopping:
            await control.nap(interval)
            if control.stopping:
                return
            try:
                await self.arrive()
                for stream in self._streams:
                    await self._keep_ours(stream, refresh_ms)
                    await self._claim(stream, min_idle_ms)
                    await self._forget_gone(stream)
            except REDIS_DOWN as exc:
                await control.redis_trouble("claim", exc)
            except ResponseError as exc:
                await self._groups.recreate(exc)

    async def _keep_ours(self, stream: str, min_idle_ms: int) -> None:
        """Reset the idle time of the entries we hold (a job slower than
        claim_idle must not look abandoned and run twice). XCLAIM ... JUSTID
        leaves the delivery count alone; the idle threshold keeps us from
        taking back an entry another consumer has just claimed."""
        ids: list[Any] = [entry_id for s, entry_id in self._acker.held if s == stream]
        if ids:
            await self._redis.xclaim(stream, GROUP, self._name, min_idle_ms, ids, justid=True)

    async def _claim(self, stream: str, min_idle_ms: int) -> None:
        """XAUTOCLAIM with the free slots, following the cursor; it goes on
        from where it stopped at the next pass and wraps around at 0-0."""
        slots = self._slots
        claimed = 0
        while not self._control.stopping:
            free = slots.free() - len(slots.backlog)
            if free <= 0:
                break
            reply = await self._redis.xautoclaim(stream, GROUP, self._name, min_idle_ms,
                                                 self._cursor[stream], count=free)
            next_cursor, entries = text(reply[0]), reply[1]
            self._cursor[stream] = next_cursor
            # reply[2]: entries deleted meanwhile; Redis already dropped them from the PEL.
            entries = [(text(i), f) for i, f in entries if i is not None]
            if entries:
                deliveries = await self._reader.deliveries(stream, [i for i, _ in entries])
                for entry_id, fields in entries:
                    claimed += slots.take(stream, entry_id, fields, deliveries.get(entry_id, 2))
            if next_cursor == "0-0":
                break
        if claimed:
            self._control.log.warning("worker.claimed", stream=self._kinds[stream], jobs=claimed)

    async def _forget_gone(self, stream: str) -> None:
        """Remove the consumers that are gone and hold nothing (see the module
        doc). Those that read within the liveness time are not even asked."""
        removed = []
        for consumer in await self._redis.xinfo_consumers(stream, GROUP):
            name = text(consumer["name"])
            if name == self._name or consumer["pending"] or consumer["idle"] < self._alive_ms:
                continue
            if await forget_if_gone(self._redis, stream, name):
                removed.append(name)
        if removed:
            self._control.log.info("worker.consumers_removed", stream=self._kinds[stream],
                                   consumers=removed)
