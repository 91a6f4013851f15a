"""Whether the SQLite database answers, without ever blocking the event loop.

Reads run inline on the loop (sqlite_core.py), so a ping there would stall the
whole process behind a lock for the busy timeout. This one runs in a thread on
a connection of its own, waits at most `timeout` for the lock, and asks for
what a request needs: the write lock (in WAL mode another connection's
EXCLUSIVE transaction leaves reads alone but stalls every write) and a read
of a real table (a file that is not a database, or gone, fails here).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from ..probe import ThreadProbe


class SQLitePing:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._timeout = 1.0
        self._lock = threading.Lock()  # the check's thread against close()
        self._closed = False
        self._probe = ThreadProbe(self._check)

    async def __call__(self, timeout: float) -> bool:
        self._timeout = timeout
        return await self._probe(timeout)

    def _check(self) -> bool:
        with self._lock:
            if self._closed:
                return False
            try:
                conn = self._conn
                if conn is None:  # mode=rw: a database that is gone is not made again, empty
                    conn = self._conn = sqlite3.connect(f"{self._path.resolve().as_uri()}?mode=rw", uri=True,
                                                        isolation_level=None, check_same_thread=False)
                conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.execute("SELECT 1 FROM users LIMIT 1").fetchall()
                finally:
                    conn.execute("ROLLBACK")
                return True
            except sqlite3.Error:
                self._drop()
                return False
            finally:
                if self._closed:
                    self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Close the connection (a check still running: when it ends)."""
        self._closed = True
        if self._lock.acquire(blocking=False):
            try:
                self._drop()
            finally:
                self._lock.release()
