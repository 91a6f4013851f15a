"""Due retries back on their streams (they wait in a sorted set per stream,
see settle.py), waking for the earliest one."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

from .control import REDIS_DOWN, Control
from .settle import Settler

MOVER_MAX_SLEEP = 1.0  # retries scheduled by other workers are moved at most this late


class Mover:
    def __init__(self, settler: Settler, streams: Sequence[str], control: Control) -> None:
        self._settler = settler
        self._streams = streams
        self._control = control
        self._event = asyncio.Event()
        control.on_stop(lambda first, timeout: self._event.set())

    def retry_scheduled(self) -> None:
        """A retry was just scheduled here: look again now, it may be the earliest."""
        self._event.set()

    async def run(self) -> None:
        control = self._control
        while not control.stopping:
            self._event.clear()
            try:
                earliest = await self._settler.move_due(self._streams)
            except REDIS_DOWN as exc:
                await control.redis_trouble("move", exc)
                continue
            sleep = MOVER_MAX_SLEEP
            if earliest is not None:
                sleep = min(max(earliest - time.time(), 0.005), MOVER_MAX_SLEEP)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), sleep)
