"""The entries a worker holds, from read to ack, and their acks in batches.

An entry is *held* from the moment it is read or claimed until it is acked
(its job is done) or settled (retried or dead-lettered by `settle.py`).
Finished entries are acked and deleted in batches, one MULTI per round trip:
whatever finished during the previous round trip goes in the next one (no
timer, so no added latency). While the read loop runs and is not blocked it
sends the acks itself, in the same MULTI as its next read (`reader_sends`):
a finished job frees a slot, which wakes the reader at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from .control import REDIS_DOWN, Control
from .settle import Settler

Batch = dict[str, list[str]]  # stream -> entry ids


class Acker:
    def __init__(self, settler: Settler, control: Control) -> None:
        self._settler = settler
        self._control = control
        self.held: set[tuple[str, str]] = set()  # (stream, entry id): read, not yet acked or settled
        self._acks: Batch = {}
        self._event = asyncio.Event()
        self.reader_sends = False  # the read loop sends the acks with its reads
        self._last = False  # finish(): end once nothing is left

    def ack(self, stream: str, entry_id: str) -> None:
        """The entry's job is done: ack and delete it with the next batch."""
        self._acks.setdefault(stream, []).append(entry_id)
        self._event.set()

    def release(self, stream: str, entry_id: str) -> None:
        """The entry is no longer ours to ack (settled, or left pending)."""
        self.held.discard((stream, entry_id))

    def waiting(self) -> bool:
        return bool(self._acks)

    def take_batch(self) -> Batch:
        """The acks to send now (the reader's read carries them)."""
        batch, self._acks = self._acks, {}
        return batch

    def acked(self, batch: Mapping[str, list[str]]) -> None:
        for stream, ids in batch.items():
            for entry_id in ids:
                self.held.discard((stream, entry_id))

    def unsent(self, batch: Mapping[str, list[str]]) -> None:
        """Put acks back for the next round (first, keeping their order);
        acking twice is harmless."""
        for stream, ids in batch.items():
            self._acks.setdefault(stream, [])[:0] = ids
        if batch:
            self._event.set()

    def hand_over(self) -> None:
        """The reader will not read for a while: the acker sends what waits."""
        self.reader_sends = False
        self._event.set()

    async def run(self) -> None:
        """Send acks whenever the reader does not; end once `finish` asked
        and nothing is left."""
        while True:
            await self._event.wait()
            self._event.clear()
            if self._acks and not self.reader_sends:
                await self._flush()
            elif self._last and not self._acks:
                return

    async def _flush(self) -> None:
        batch = self.take_batch()
        try:
            await self._settler.ack(batch)
        except REDIS_DOWN as exc:
            self.unsent(batch)
            await self._control.redis_trouble("ack", exc)
            return
        self.acked(batch)

    async def finish(self, task: asyncio.Task[None]) -> None:
        """Let `task` (this acker's run) flush what is left; past the deadline
        (Redis down), give up: those entries stay pending and run again elsewhere."""
        self._last = True
        self.reader_sends = False
        self._event.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), max(self._control.time_left(), 1.0))
        except TimeoutError:
            task.cancel()
            self._control.log.error("worker.acks_unsent", entries=sum(map(len, self._acks.values())))
        except Exception:  # noqa: BLE001 - reported by the worker's background watch already
            pass
