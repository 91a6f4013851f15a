"""`python supervisor.py check`: is everything the service needs there?
The configuration (it loaded: its main values), Redis, the database, the
content folder and its disk, and the S3 bucket when content lives in one.
Changes nothing; exit 1 if anything failed."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError

from shared.config import Settings, cpu_count, redact
from shared.errors import StorageUnavailable
from shared.open_blobs import open_blob_store
from shared.redis_client import open_redis, text
from shared.redis_persistence import persistence_of
from shared.storage.schema import schema_of
from shared.storage.sqlite_core import sqlite_path

from .output import EXIT_OK, EXIT_PROBLEM, Output
from .sizes import human_size

HELP = "check the configuration, Redis, the database, the content folder and its free space"
DESCRIPTION = """\
Check what the service needs, without changing anything: the configuration
loads (its main values are shown, no secrets), Redis answers (its version,
whether it keeps anything on disk), the database answers (backend, version,
schema version and pending migrations), the content folder (FOLDER_PATH) is
writable, and its disk has at least 100 MiB free; with BLOB_URL set, the
bucket exists and answers (the service never creates it). Exit 0 if all is well, 1 if
anything failed (each failure is also a line on stderr), 2 if the
configuration does not load."""

LOW_DISK = 100 * 1024 * 1024  # bytes free under which uploads are about to fail with 507
TIMEOUT = 10.0  # seconds each backend gets to answer


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("check", parents=[common], help=HELP, description=DESCRIPTION,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(handler=run)


def effective_settings(settings: Settings) -> dict[str, Any]:
    """The values an operator checks first; URLs without credentials, tokens as set or not."""
    server, storage = settings.server, settings.storage
    return {
        "config": str(settings.source), "host": server.host, "port": server.port,
        "apiWorkers": server.workers or cpu_count(), "jobWorkers": settings.worker.processes,
        "database": redact(storage.db_url), "folder": str(storage.folder_path),
        "redis": redact(settings.redis.url), "signup": settings.security.signup,
        "defaultQuota": storage.default_quota or None, "maxFileSize": storage.max_file_size,
        "tokenTtl": settings.security.token_ttl, "trashRetentionDays": settings.trash.retention_days,
        "metricsToken": "set" if settings.metrics.token else "not set", "metricsPort": settings.metrics.port,
        "logLevel": settings.log.level,
    }


def _config(settings: Settings) -> Check:
    values = effective_settings(settings)
    detail = (f"{values['config']}: port {values['port']}, {values['apiWorkers']} API and "
              f"{values['jobWorkers']} job worker(s), sign-up {values['signup']}")
    return Check("config", True, detail, values)


async def _redis(settings: Settings) -> Check:
    url = redact(settings.redis.url)
    client = open_redis(settings.redis.url)
    try:
        info = await client.info("server")
        persistence = await persistence_of(client)
    except (RedisError, OSError) as exc:
        return Check("redis", False, f"{url}: {type(exc).__name__}: {exc}", {"url": url})
    finally:
        await client.aclose()
    version = text(info.get("redis_version", "?"))
    if persistence is None:
        kept = "persistence unknown (CONFIG refused)"
    elif persistence.aof:
        kept = "append-only file on"
    else:
        kept = "snapshots only" if persistence.snapshots else "nothing kept on disk: a restart loses tokens and jobs"
    data = {"url": url, "version": version, "appendOnly": None if persistence is None else persistence.aof}
    return Check("redis", True, f"{url}: Redis {version}, {kept}", data)


async def _database(settings: Settings) -> Check:
    url = settings.storage.db_url
    shown = redact(url)
    try:
        state = await schema_of(url).inspect(url)
    except StorageUnavailable as exc:
        return Check("database", False, str(exc), {"url": shown})
    data = {"url": shown, "backend": state.backend, "serverVersion": state.server_version,
            "schemaVersion": state.version, "latestSchemaVersion": state.latest, "pending": list(state.pending)}
    if state.too_new:
        return Check("database", False, f"{shown}: schema version {state.version} is newer than this "
                                        f"service knows ({state.latest}): run the newer version", data)
    if state.backend == "sqlite":
        detail = f"{shown}: SQLite {state.server_version}, schema version {state.version} of {state.latest}"
        if not state.exists:
            detail = f"{shown}: not created yet (the first start, or `migrate`, creates it)"
            return Check("database", _writable(_existing(sqlite_path(url).parent)), detail, data)
    elif state.backend == "postgresql":
        detail = f"{shown}: PostgreSQL {state.server_version}, schema version {state.version} of {state.latest}"
    else:
        detail = f"{shown}: MongoDB {state.server_version}"
    if state.pending and state.version is not None and settings.storage.migrate == "manual":
        # storage.migrate = "manual": the service would refuse to start.
        detail += f"; {len(state.pending)} pending: the service will not start until `migrate` has run"
        return Check("database", False, detail, data)
    if state.pending:  # not a failure: the service migrates at start
        detail += f"; {len(state.pending)} pending (applied at the next start, or run `migrate`)"
    return Check("database", True, detail, data)


def _existing(folder: Path) -> Path:
    """`folder`, or its closest ancestor that exists (what would hold it once created)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _writable(folder: Path) -> bool:
    """A file can be created and removed in `folder` (the real test; access() lies for root)."""
    probe = folder / f".files-manager-check-{uuid.uuid4().hex}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
        return True
    except OSError:
        return False


def _folder(settings: Settings) -> Check:
    folder = settings.storage.folder_path
    data: dict[str, Any] = {"path": str(folder)}
    if folder.is_dir():
        ok = _writable(folder)
        return Check("folder", ok, f"{folder}: {'writable' if ok else 'NOT writable by this user'}", data)
    if folder.exists():
        return Check("folder", False, f"{folder}: not a folder", data)
    holder = _existing(folder)
    ok = holder.is_dir() and _writable(holder)
    said = "missing, created at start" if ok else f"missing, and {holder} is not writable: cannot be created"
    return Check("folder", ok, f"{folder}: {said}", data)


def _disk(settings: Settings) -> Check:
    where = _existing(settings.storage.folder_path)
    try:
        usage = shutil.disk_usage(where)
    except OSError as exc:
        return Check("disk", False, f"{where}: {exc}", {"path": str(where)})
    data = {"path": str(where), "freeBytes": usage.free, "totalBytes": usage.total}
    share = 100 * usage.free / usage.total if usage.total else 0.0
    detail = f"{human_size(usage.free)} free of {human_size(usage.total)} ({share:.0f}%)"
    if usage.free < LOW_DISK:
        return Check("disk", False, f"{detail}: below {human_size(LOW_DISK)}, uploads will fail", data)
    return Check("disk", True, detail, data)


async def _blobs(settings: Settings) -> Check:
    """The bucket of BLOB_URL exists and answers (HeadBucket)."""
    where = settings.storage.blob_url
    endpoint = settings.storage.s3_endpoint_url or "AWS"
    data = {"url": where, "endpoint": endpoint}
    try:
        async with open_blob_store(settings) as blobs:
            await blobs.check()
    except StorageUnavailable as exc:
        hint = ": create it (the service never does)" if "does not exist" in str(exc) else ""
        return Check("blobs", False, f"{where} at {endpoint}: {exc}{hint}", data)
    return Check("blobs", True, f"{where} at {endpoint}: the bucket answers", data)


async def _bounded(name: str, check: Callable[[], Awaitable[Check]]) -> Check:
    try:
        return await asyncio.wait_for(check(), TIMEOUT)
    except TimeoutError:
        return Check(name, False, f"no answer within {TIMEOUT:g} s")


async def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    checks = [
        _config(settings),
        await _bounded("redis", lambda: _redis(settings)),
        await _bounded("database", lambda: _database(settings)),
        await asyncio.to_thread(_folder, settings),
        await asyncio.to_thread(_disk, settings),
    ]
    if settings.storage.blob_url:
        checks.append(await _bounded("blobs", lambda: _blobs(settings)))
    ok = all(c.ok for c in checks)
    lines = [f"{'ok' if c.ok else 'FAIL':<5} {c.name:<9} {c.detail}" for c in checks]
    data = {"ok": ok, "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail, **c.data} for c in checks]}
    out.result(data, "\n".join(lines))
    for failed in (c for c in checks if not c.ok):
        out.problem(f"check {failed.name} failed: {failed.detail}")
    return EXIT_OK if ok else EXIT_PROBLEM

