"""Reclaiming: entries whose consumer went silent are claimed and run here;
the entries we hold are kept fresh so nobody claims a slow job of ours."""

from __future__ import annotations

import time
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

CONSUMER_FORGET_AFTER = 3600.0  # a consumer with nothing pending, silent this long, is removed


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

    async def run(self) -> None:
        control = self._control
        claim_idle = self._settings.claim_idle
        # Our own entries are refreshed once idle for a quarter of claim_idle;
        # passes come at least that often, so they are never older than
        # claim_idle / 2 when refreshed, well before anyone may claim them.
        interval = max(0.05, min(claim_idle / 4, 5.0))
        min_idle_ms = int(claim_idle * 1000)
        refresh_ms = int(claim_idle * 250)
        last_cleanup = 0.0
        while not control.stopping:
            await control.nap(interval)
            if control.stopping:
                return
            try:
                for stream in self._streams:
                    await self._keep_ours(stream, refresh_ms)
                    await self._claim(stream, min_idle_ms)
                if time.monotonic() - last_cleanup > CONSUMER_FORGET_AFTER / 10:
                    last_cleanup = time.monotonic()
                    await self._forget_consumers()
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

    async def _forget_consumers(self) -> None:
        """Remove consumers of dead processes once they hold nothing (names are
        unique per process, so they would pile up in XINFO otherwise)."""
        for stream in self._streams:
            for consumer in await self._redis.xinfo_consumers(stream, GROUP):
                name = text(consumer["name"])
                if (name != self._name and consumer["pending"] == 0
                        and consumer["idle"] > CONSUMER_FORGET_AFTER * 1000):
                    await self._redis.xgroup_delconsumer(stream, GROUP, name)
