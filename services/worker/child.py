"""A job worker child: the Redis-stream consumer under grace.

The consumer's `run()` returns once `stop()` was called and the jobs in hand
are done or handed back; returning on its own, or raising, is the kind of
escaped error that makes the child exit 1 (the master replaces it)."""

from __future__ import annotations

import asyncio

from shared.grace import Grace
from shared.supervision.child import ChildContext, run_child


def run_job_worker(ctx: ChildContext) -> int:
    """The child target the master forks."""
    return run_child(ctx, work)


async def work(grace: Grace, ctx: ChildContext) -> None:
    from .consumer import JobWorker

    worker = JobWorker(ctx.settings)
    await worker.start()

    async def consume() -> None:
        await worker.run()
        if not grace.stopping:
            raise RuntimeError("the job consumer stopped without being asked")

    task = grace.spawn(consume(), name="job consumer")

    async def stop(time_left: float) -> None:
        # Leave a little of the master's timeout for closing the clients.
        worker.stop(timeout=max(0.0, time_left * 0.8))
        await asyncio.wait({task})
        await worker.close()

    grace.on_shutdown(stop)
