"""A Redis master with one real replica, for the tests of waiting for it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

from redis.asyncio import Redis

from tests.conftest import private_redis


@contextlib.contextmanager
def master_and_replica(folder: Path) -> Iterator[tuple[str, str, subprocess.Popen]]:
    """(master URL, replica URL, the replica's process): two private
    redis-servers, the second started with --replicaof the first. A test may
    SIGSTOP the replica; it is continued before it is stopped."""
    (folder / "master").mkdir()
    (folder / "replica").mkdir()
    # No diskless-sync delay: the replica is in sync at once, not after 5 s.
    with private_redis(folder / "master", "--repl-diskless-sync-delay", "0") as (master, _):
        port = master.rsplit(":", 1)[1].split("/")[0]
        with private_redis(folder / "replica", "--replicaof", "127.0.0.1", port) as (replica, proc):
            try:
                yield master, replica, proc
            finally:
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGCONT)


async def in_sync(master: Redis, replica: Redis) -> bool:
    """The master counts the replica and the replica's link is up."""
    return ((await master.info("replication")).get("connected_slaves") == 1
            and (await replica.info("replication")).get("master_link_status") == "up")


async def wait_calls(client: Redis) -> int:
    """How many WAIT commands this Redis has run."""
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_wait", {}).get("calls", 0))
