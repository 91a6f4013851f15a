"""Start checks: Redis and the database must answer within the start timeout;
what would not survive a reboot or a Redis crash is said once, as a warning."""

from __future__ import annotations

import asyncio

from ..config import Settings, is_volatile, redact
from ..errors import SchemaMismatch
from ..logging import get_logger
from ..redis_client import open_redis
from ..redis_persistence import warn_if_not_durable
from ..storage import open_storage

log = get_logger("supervisor")

_RETRY = 0.2


class StartCheckFailed(Exception):
    """A dependency did not answer in time; the message names which and where (exit 3)."""


async def _until(deadline: float, probe) -> Exception | None:
    """Run `probe` until it succeeds or the deadline passes; the last error or None."""
    loop = asyncio.get_running_loop()
    last: Exception | None = None
    while True:
        left = deadline - loop.time()
        if left <= 0:
            return last or TimeoutError("no answer")
        try:
            await asyncio.wait_for(probe(), left)
            return None
        except SchemaMismatch as exc:  # waiting will not change the schema
            return exc
        except Exception as exc:  # noqa: BLE001 - any failure: try again until the deadline
            last = exc
        await asyncio.sleep(min(_RETRY, max(0.0, deadline - loop.time())))


async def _redis_ok(url: str) -> None:
    client = open_redis(url)
    try:
        if not await client.ping():
            raise ConnectionError("PING not answered")
    finally:
        await client.aclose()


async def _db_ok(url: str, migrate: str) -> None:
    storage = await open_storage(url, migrate=migrate)
    try:
        if not await storage.ping():
            raise ConnectionError("ping not answered")
    finally:
        await storage.close()


async def check_dependencies(settings: Settings) -> None:
    """Both checks at once, each bounded by `supervisor.start_timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.supervisor.start_timeout
    redis_error, db_error = await asyncio.gather(
        _until(deadline, lambda: _redis_ok(settings.redis.url)),
        _until(deadline, lambda: _db_ok(settings.storage.db_url, settings.storage.migrate)),
    )
    timeout = settings.supervisor.start_timeout
    if redis_error is not None:
        raise StartCheckFailed(
            f"Redis unreachable at {redact(settings.redis.url)} within {timeout:g} s: {redis_error}"
        )
    if isinstance(db_error, SchemaMismatch):
        raise StartCheckFailed(f"database at {redact(settings.storage.db_url)}: {db_error}")
    if db_error is not None:
        raise StartCheckFailed(
            f"database unreachable at {redact(settings.storage.db_url)} within {timeout:g} s: {db_error}"
        )


async def warn_about_durability(settings: Settings) -> None:
    """Once, at the master's start: content under /tmp, a Redis keeping nothing on disk."""
    folder = settings.storage.folder_path
    if not settings.storage.blob_url and is_volatile(folder):  # content in S3: nothing lasting in the folder
        log.warning("storage.volatile_folder", folder=str(folder),
                    consequence="a reboot empties /tmp while the files' metadata survives; "
                                "set FOLDER_PATH to a lasting place")
    client = open_redis(settings.redis.url)
    try:
        await warn_if_not_durable(client, log)
    finally:
        await client.aclose()
