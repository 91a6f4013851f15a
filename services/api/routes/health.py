"""GET /livez and GET /readyz: what a load balancer or an orchestrator asks.

/livez says the worker's loop serves requests (a restart is the cure when it
does not); it checks no backend, so an outage of Redis never gets every worker
restarted at once. /readyz says whether this worker can serve right now: every
backend answered within `server.readiness_timeout` (checked concurrently, so
the answer comes within that time whatever is down), and the worker is not
draining: it reads 503 from the moment a stop begins, before the listener
closes, so the balancer stops sending here first. Nothing is remembered
between calls: it reads 200 again as soon as the backend is back.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from aiohttp import web

from shared.blob_store import BlobStore
from shared.blobs import PART_SUFFIX, FolderBlobs
from shared.probe import ThreadProbe

from ..keys import BLOBS, DRAIN, REDIS, SETTINGS, STORAGE
from ..views import json_response

routes = web.RouteTableDef()

_BLOBS_PROBE = web.AppKey("blobs_probe", ThreadProbe)


def install(app: web.Application) -> None:
    """The app's blob-folder probe (one per app: one check at a time per worker)."""
    app[_BLOBS_PROBE] = ThreadProbe(lambda: _folder_answers(app[SETTINGS].storage.folder_path))


async def _blobs_answer(app: web.Application, timeout: float) -> bool:
    """The folder takes a file, or the object store's bucket is there (HeadBucket)."""
    blobs = app[BLOBS]
    if isinstance(blobs, FolderBlobs):
        return await app[_BLOBS_PROBE](timeout)
    return await answers_within(_checked(blobs), timeout)


async def _checked(blobs: BlobStore) -> bool:
    await blobs.check()
    return True


def _folder_answers(folder: Path) -> bool:
    """Blocking: the folder is there and takes a file. The name is a stale
    part's should the process die in between (blobs.remove_stale_parts)."""
    fd, name = tempfile.mkstemp(prefix=".readyz-", suffix=PART_SUFFIX, dir=folder)
    try:
        os.close(fd)
    finally:
        os.unlink(name)
    return True


async def answers_within(probe, timeout: float) -> bool:
    """Whether `probe` (an awaitable) came back truthy within `timeout`; any failure is a no."""
    try:
        async with asyncio.timeout(timeout):
            return bool(await probe)
    except Exception:  # noqa: BLE001 - any failure means "does not answer right now"
        return False


@routes.get("/livez")
async def livez(request: web.Request) -> web.Response:
    return json_response({"live": True})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    app = request.app
    if app[DRAIN].active:
        return json_response({"draining": True}, status=503)
    timeout = app[SETTINGS].server.readiness_timeout
    redis, db, blobs = await asyncio.gather(
        answers_within(app[REDIS].ping(), timeout),
        answers_within(app[STORAGE].ping(timeout), timeout),
        _blobs_answer(app, timeout),
    )
    if app[DRAIN].active:  # the stop began while the backends were asked
        return json_response({"draining": True}, status=503)
    ready = redis and db and blobs
    return json_response({"redis": redis, "db": db, "blobs": blobs}, status=200 if ready else 503)
