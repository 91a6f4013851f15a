"""What each job kind does. A handler finishes (the job is acked), raises
`JobSkipped` (nothing left to do: acked too), `JobRejected` (permanent: dead
letters at once) or raises anything else (transient: retried with backoff).

A job whose file or user no longer exists is skipped, not dead: the API
enqueues after storing, and a request that failed after its XADD was sent
(Redis stalled, the reply timed out) rolls the record back while the XADD
may still run later. Such a job has nothing to do; a dead letter would only
alarm the operator. A malformed payload or an undecodable image is a real
failure and goes to the dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor

from shared.jobs import Job
from shared.storage import Storage

from .thumbnails import ImageRejected, make_thumbnails
from .welcome import WelcomeSender

Handler = Callable[[Job], Awaitable[None]]


class JobRejected(Exception):
    """The job can never succeed (bad payload, not an image)."""


class JobSkipped(Exception):
    """The job has nothing to do (its record is gone); the message says why."""


def _field(job: Job, name: str) -> str:
    value = job.payload.get(name)
    if value is None or value == "":
        raise JobRejected(f"Missing {name}")
    return str(value)


class ThumbnailsHandler:
    """Validate, then render in the CPU pool so the event loop never blocks."""

    def __init__(self, storage: Storage, pool: Executor, max_pixels: int) -> None:
        self.storage = storage
        self.pool = pool
        self.max_pixels = max_pixels

    async def __call__(self, job: Job) -> None:
        file_id = _field(job, "fileId")
        user_id = _field(job, "userId")
        record = await self.storage.file_of_user(user_id, file_id)
        if record is None:
            raise JobSkipped("File not found")
        if not record.local_path:  # a folder: never enqueued so by the API
            raise JobRejected("File not found")
        if record.type != "image":  # its content was replaced (PUT /v2/files/:id/content) by a non-image
            raise JobSkipped("Not an image")
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self.pool, make_thumbnails, record.local_path, self.max_pixels)
        except ImageRejected as exc:
            raise JobRejected(f"Image rejected: {exc}") from None
        except FileNotFoundError:  # the content is gone (rolled back, or replaced): no retry brings it back
            raise JobSkipped("File not found") from None
        # Only if the file still has that content (replaced meanwhile: its own job will say so).
        await self.storage.set_thumbnails(record.id, record.local_path)


class WelcomeHandler:
    def __init__(self, storage: Storage, sender: WelcomeSender) -> None:
        self.storage = storage
        self.sender = sender

    async def __call__(self, job: Job) -> None:
        user_id = _field(job, "userId")
        user = await self.storage.user_by_id(user_id)
        if user is None:
            raise JobSkipped("User not found")
        await self.sender.send(user.email)

