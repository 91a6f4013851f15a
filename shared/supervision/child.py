"""Running one child: the process's own Grace, its signals, heartbeats, uvloop.

`run_child(ctx, setup)` is what an API or job worker's entry calls in the forked
process; `setup(grace, ctx)` starts the work and registers its shutdown hooks."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from socket import socket

from ..config import Settings
from ..grace import Grace
from ..logging import configure_logging, get_logger
from .beacon import Beacon, beat_interval


@dataclass(frozen=True)
class ChildContext:
    kind: str  # "api" or "job"
    index: int  # 1-based slot number, as in the process title
    generation: int  # bumped by each reload
    title: str  # "files-manager: api worker 2"
    settings: Settings
    sock: socket | None  # the listening socket, for API workers
    beacon: Beacon
    master_pid: int


Setup = Callable[[Grace, ChildContext], Awaitable[None]]

# SIGINT/SIGTERM that arrive between fork and the child's loop (a Ctrl-C to the
# whole group at that moment): remembered here, honoured once the loop runs.
_early_stop: list[int] = []


def remember_stop_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: _early_stop.append(signum))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - declared dependency
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def run_child(ctx: ChildContext, setup: Setup) -> int:
    """The child's life; returns its exit code (0 after a clean stop)."""
    configure_logging(ctx.settings.log, role=ctx.kind, worker=ctx.index)
    log = get_logger("child")
    grace = Grace(ctx.title, timeout=ctx.settings.supervisor.graceful_timeout)

    @grace.on_error
    def _log_error(exc: BaseException, context: dict) -> None:
        log.error("child.error", exc_info=exc, **context)

    async def main() -> int:
        loop = asyncio.get_running_loop()
        # A signal only ever starts the graceful stop: a second one (the terminal's
        # SIGINT to the whole group, then the master's SIGTERM) must not force it.
        # Forcing is the master's job, with SIGKILL after its timeout.
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, grace.shutdown, 0)
        if _early_stop:
            grace.shutdown(0)
        grace.spawn(ctx.beacon.beat(beat_interval(ctx.settings.supervisor.heartbeat_timeout)),
                    name="heartbeat")

        @grace.on_start
        async def _start() -> None:
            await setup(grace, ctx)
            if not grace.stopping:
                ctx.beacon.ready()
                log.info("child.ready", generation=ctx.generation)

        return await grace.run()

    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(main())
