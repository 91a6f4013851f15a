"""The child's side of its pipe to the master: "ready" once, then heartbeats,
and "recycle me" from an API worker past its `server.max_requests`.

The beats come from a task on the child's event loop, so a blocked loop (or a
stopped process) goes silent, while work running in threads (Pillow) does not."""

from __future__ import annotations

import asyncio
import os

READY = b"R"
BEAT = b"."
RECYCLE = b"Q"


class Beacon:
    def __init__(self, fd: int) -> None:
        self._fd = fd
        os.set_blocking(fd, False)

    def _send(self, message: bytes) -> bool:
        try:
            os.write(self._fd, message)
        except BlockingIOError:
            pass  # the master is behind: it has our news already
        except (BrokenPipeError, OSError):
            return False  # the master is gone; the parent-death signal does the rest
        return True

    def ready(self) -> None:
        self._send(READY)

    def recycle(self) -> None:
        self._send(RECYCLE)

    async def beat(self, interval: float) -> None:
        while self._send(BEAT):
            await asyncio.sleep(interval)


def beat_interval(heartbeat_timeout: float) -> float:
    """Several beats per timeout, so one late tick is never taken for a hang."""
    return max(0.02, min(1.0, heartbeat_timeout / 5))
