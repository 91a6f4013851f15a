"""Reading: the consumer group on every stream, this consumer's own pending
entries first (a restart under the same name), then new entries with
XREADGROUP BLOCK COUNT, never more than the free slots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.jobs import GROUP
from shared.redis_client import text

from .acker import Acker
from .control import REDIS_DOWN, Control
from .settle import Settler
from .slots import Slots

BLOCK_MS = 500  # a blocked read returns this often, so a stop never waits longer for it


class Groups:
    """The consumer group on each stream, made again if a stream vanishes."""

    def __init__(self, redis: Redis, streams: Sequence[str], control: Control) -> None:
        self._redis = redis
        self._streams = streams
        self._control = control

    async def create(self) -> None:
        """XGROUP CREATE ... 0 MKSTREAM on every stream; an existing group is fine."""
        for stream in self._streams:
            try:
                await self._redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def recreate(self, exc: ResponseError) -> None:
        """A stream vanished under us (an operator's DEL or FLUSHALL, a Redis
        restarted without persistence): make the groups again. Any other
        error is not ours to swallow."""
        if "NOGROUP" not in str(exc):
            raise exc
        self._control.log.warning("worker.group_recreated", error=str(exc))
        await self.create()


class Reader:
    def __init__(self, redis: Redis, name: str, streams: Sequence[str], groups: Groups,
                 settler: Settler, acker: Acker, slots: Slots, control: Control) -> None:
        self._redis = redis
        self._name = name
        self._streams = streams
        self._groups = groups
        self._settler = settler
        self._acker = acker
        self._slots = slots
        self._control = control

    async def recover_own(self) -> None:
        """Finish what this consumer name left pending (a restart under the same
        name). Reading from an explicit id returns our own pending entries."""
        control, slots = self._control, self._slots
        recovered = 0
        for stream in self._streams:
            cursor = "0"
            while not control.stopping:
                if slots.free() <= 0:
                    await slots.wait()
                    continue
                reply = await control.retrying(self._redis.xreadgroup, GROUP, self._name,
                                               {stream: cursor}, count=slots.free())
                entries = reply[0][1] if reply else []
                if not entries:
                    break
                deliveries = await control.retrying(self.deliveries, stream, [e[0] for e in entries])
                if deliveries is None:
                    break
                for entry_id, fields in entries:
                    entry_id = text(entry_id)
                    recovered += slots.take(stream, entry_id, fields, deliveries.get(entry_id, 1))
                cursor = text(entries[-1][0])
        if recovered:
            control.log.info("worker.recovered", jobs=recovered)

    async def deliveries(self, stream: str, ids: list) -> dict[str, int]:
        """How many times each of our pending `ids` was delivered (poison-pill guard)."""
        ids = [text(i) for i in ids]
        rows = await self._redis.xpending_range(
            stream, GROUP, min=ids[0], max=ids[-1],
            count=len(ids) + len(self._acker.held) + 16, consumername=self._name)
        return {text(r["message_id"]): int(r["times_delivered"]) for r in rows}

    async def consume(self) -> None:
        """Read until stop; whatever acks are left then are the acker's."""
        try:
            self._acker.reader_sends = True
            await self._consume()
        finally:
            self._acker.hand_over()

    async def _consume(self) -> None:
        acker, slots, control = self._acker, self._slots, self._control
        streams: dict[Any, Any] = {stream: ">" for stream in self._streams}  # redis-py's types want invariant unions
        while not control.stopping:
            slots.start_backlog()
            free = slots.free()
            if free <= 0 or slots.backlog:
                if acker.waiting():  # no read for now to carry them: the acker sends them
                    acker.hand_over()
                await slots.wait()
                acker.reader_sends = True
                continue
            acks = acker.take_batch()
            try:
                if acks:  # acks ride along with the read (the acker handles the rest)
                    reply = await self._settler.ack(acks, streams, consumer=self._name, count=free)
                    acker.acked(acks)
                else:
                    acker.reader_sends = False  # blocked: jobs finishing now are acked by the acker
                    try:
                        reply = await self._redis.xreadgroup(GROUP, self._name, streams, count=free,
                                                             block=BLOCK_MS)
                    finally:
                        acker.reader_sends = True
            except REDIS_DOWN as exc:
                acker.unsent(acks)
                await control.redis_trouble("read", exc)
                continue
            except ResponseError as exc:
                acker.unsent(acks)
                await self._groups.recreate(exc)
                continue
            for stream, entries in reply or ():
                stream = text(stream)
                for entry_id, fields in entries:
                    slots.take(stream, text(entry_id), fields, 1)
