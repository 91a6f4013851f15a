"""A blocking check of a backend (a file system, a SQLite lock) run in a thread
and bounded in time, for health checks.

A thread cannot be cancelled: a check stuck in the kernel (an NFS mount that
stopped answering) keeps its thread until it returns. So at most one check
runs at a time per probe: callers that come while one runs share its answer,
and a stuck one is not started again (no pile-up of threads), it just reads
False to every caller past their timeout until it returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class ThreadProbe:
    def __init__(self, check: Callable[[], bool]) -> None:
        """`check` blocks, returns whether the backend answered, and catches
        its own errors (an exception reads False too)."""
        self._check = check
        self._running: asyncio.Future[bool] | None = None

    def _guarded(self) -> bool:
        try:
            return bool(self._check())
        except Exception:  # noqa: BLE001 - any failure means "does not answer right now"
            return False

    async def __call__(self, timeout: float) -> bool:
        running = self._running
        if running is None or running.done():
            running = self._running = asyncio.get_running_loop().run_in_executor(None, self._guarded)
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(running)
        except TimeoutError:
            return False
