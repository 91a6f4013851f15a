"""The jobs a worker runs at once: at most `concurrency` tasks, the rest of
what it holds waiting in order for a slot.

XREADGROUP's COUNT is per stream, so one read can bring more entries than
there are free slots, and a claim can too: they wait in the backlog, held
(acked by nobody else), until a slot frees."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from .acker import Acker
from .control import Control

Run = Callable[[str, str, dict, int], Coroutine[Any, Any, None]]


class Slots:
    def __init__(self, concurrency: int, run: Run, acker: Acker, control: Control) -> None:
        self.concurrency = concurrency
        self._run = run
        self._acker = acker
        self._control = control
        self.tasks: set[asyncio.Task[None]] = set()
        self.backlog: deque[tuple[str, str, dict, int]] = deque()
        self.wake = asyncio.Event()  # a slot freed, an ack to hand over, or stop
        control.on_stop(lambda first, timeout: self.wake.set())

    def free(self) -> int:
        return self.concurrency - len(self.tasks)

    def take(self, stream: str, entry_id: str, fields: dict, deliveries: int) -> int:
        """Hold a read or claimed entry and run it now or when a slot frees;
        1 if it is new to us."""
        key = (stream, entry_id)
        if key in self._acker.held:
            return 0  # claimed back while we hold it: it is running already
        if not fields:  # deleted from the stream while pending: nothing to run
            self._acker.ack(stream, entry_id)
            self.wake.set()  # the reader may be waiting for a slot: it hands the ack over
            return 0
        self._acker.held.add(key)
        if self.free() > 0 and not self.backlog:
            self._spawn(stream, entry_id, fields, deliveries)
        else:
            self.backlog.append((stream, entry_id, fields, deliveries))
        return 1

    def start_backlog(self) -> None:
        while self.backlog and self.free() > 0:
            self._spawn(*self.backlog.popleft())

    def _spawn(self, stream: str, entry_id: str, fields: dict, deliveries: int) -> None:
        task = asyncio.create_task(self._run(stream, entry_id, fields, deliveries))
        self.tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.wake.set()

    async def wait(self, timeout: float | None = None) -> None:
        """Until a slot frees (or anything else sets `wake`), at most `timeout` s."""
        self.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), timeout)

    async def drain(self) -> int:
        """After stop: let the jobs in hand finish until the deadline, then
        cancel the rest (their entries stay pending). Returns how many waiting
        in the backlog were left unstarted."""
        while self.tasks or self.backlog:
            self.start_backlog()
            remaining = self._control.time_left()
            if remaining <= 0:
                break
            await self.wait(remaining)
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        left = len(self.backlog)
        for stream, entry_id, _fields, _deliveries in self.backlog:
            self._acker.release(stream, entry_id)
        self.backlog.clear()
        return left
