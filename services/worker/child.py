"""A job worker child: the worker's one life (`serve.py`) under the
supervisor's child set-up (its Grace, signals, heartbeats)."""

from __future__ import annotations

from shared.grace import Grace
from shared.supervision.child import ChildContext, run_child


def run_job_worker(ctx: ChildContext) -> int:
    """The child target the master forks."""
    return run_child(ctx, work)


async def work(grace: Grace, ctx: ChildContext) -> None:
    from .serve import serve

    # Supervised: the node is up, so a Redis outage at this start is waited out.
    await serve(grace, ctx.settings, wait_for_redis=True)
