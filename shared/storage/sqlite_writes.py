"""SQLite writes: one connection in one thread per process, each write
within a deadline.

The thread keeps writes off the event loop and in order. Each write has a
deadline, `timeout` seconds after it was asked: the time it spends queued
behind this process's other writes counts, the wait for SQLite's write lock
(held by another process) gets only what is left (busy_timeout), and a write
whose deadline passed before its turn is not run at all. Past the deadline it
raises StorageBusy, so writes piling up behind one blocked writer all answer
within about the timeout, instead of waiting one busy_timeout each in turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from ..errors import StorageBusy

T = TypeVar("T")


class WriteQueue:
    def __init__(self, conn: sqlite3.Connection, timeout: float) -> None:
        self.conn = conn  # autocommit mode (isolation_level=None)
        self.timeout = timeout
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")

    async def run(self, steps: Callable[[sqlite3.Connection], T]) -> T:
        """`steps(conn)` in one IMMEDIATE transaction, within the deadline.
        IMMEDIATE takes the write lock up front, so a read-then-write cannot
        race another process. SQLite's own errors are raised as they are
        (SQLITE_BUSY when the lock did not come in time)."""
        deadline = time.monotonic() + self.timeout

        def run() -> T:
            left = deadline - time.monotonic()
            if left < 0.001:
                raise StorageBusy(f"SQLite: the write waited {self.timeout:g} s for its turn"
                                  " (storage.write_timeout)")
            conn = self.conn
            conn.execute(f"PRAGMA busy_timeout = {max(1, int(left * 1000))}")
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = steps(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # SQLite rolls back by itself after some errors (disk full)
                    with contextlib.suppress(sqlite3.Error):  # the first error is the one to report
                        conn.execute("ROLLBACK")
                raise
            return result

        return await asyncio.get_running_loop().run_in_executor(self._thread, run)

    def close(self) -> None:
        """After the writes already asked (each bounded by its deadline)."""
        self._thread.shutdown(wait=True)
        self.conn.close()
