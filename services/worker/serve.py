"""The job worker's one life under a `Grace`, supervised or standalone.

`serve(grace, settings)` starts a worker, consumes in a task of `grace` (a
consumer that dies or returns unasked makes the process exit 1) and stops it
in `grace`'s shutdown: no more reads, the jobs in hand get most of the time
left, then the clients close. The supervisor's job worker child
(`child.py`) and `python -m services.worker` (`run_standalone`) both run it."""

from __future__ import annotations

import asyncio
import signal

from shared.config import Settings
from shared.grace import Grace
from shared.jobs import KINDS
from shared.logging import get_logger
from shared.supervision.checks import warn_about_durability

from .consumer import JobWorker
from .metrics import start_recording

EXIT_START_FAILED = 3  # Redis or the database unreachable, a bad folder...


async def serve(grace: Grace, settings: Settings, *, name: str | None = None,
                wait_for_redis: bool = False) -> JobWorker:
    """`wait_for_redis`: a start during a Redis outage waits for it (see
    JobWorker.start) and a stop asked meanwhile ends the wait."""
    start_recording(settings, KINDS)
    worker = JobWorker(settings, name=name)

    async def stop_while_starting() -> None:
        await grace.wait_stopping()
        worker.stop(0)

    watch = asyncio.create_task(stop_while_starting(), name="stop while starting")
    try:
        await worker.start(wait_for_redis=wait_for_redis)
    except BaseException:
        await worker.close()
        raise
    finally:
        watch.cancel()

    async def consume() -> None:
        await worker.run()
        if not grace.stopping:
            raise RuntimeError("the job consumer stopped without being asked")

    task = grace.spawn(consume(), name="job consumer")

    async def stop(time_left: float) -> None:
        # Leave a little of the time for the last acks and closing the clients.
        worker.stop(timeout=max(0.0, time_left * 0.8))
        await asyncio.wait({task})
        await worker.close()

    grace.on_shutdown(stop)
    return worker


def run_standalone(settings: Settings, name: str | None = None) -> int:
    """One worker without the supervisor, until SIGINT/SIGTERM. A second
    signal shortens the deadline to now: the jobs in hand stay pending (for
    the next consumer) and the exit is still 0. Exit 1 if the worker failed,
    3 if it could not start."""
    log = get_logger("worker")
    grace = Grace("job worker", timeout=settings.supervisor.graceful_timeout)
    started: list[JobWorker] = []
    signals = 0

    @grace.on_error
    def _failed(exc: BaseException, context: dict) -> None:
        log.error("worker.failed", exc_info=exc, **context)

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            grace.shutdown(0)
            return
        for worker in started:
            worker.stop(0)

    @grace.on_start
    async def _start() -> None:
        try:
            started.append(await serve(grace, settings, name=name))
        except Exception as exc:  # noqa: BLE001 - reported as a start failure (exit 3)
            log.error("worker.start_failed", error=f"{type(exc).__name__}: {exc}")
            grace.shutdown(EXIT_START_FAILED)
            return
        # Without the supervisor, nobody else says what a reboot or a Redis restart would lose.
        await warn_about_durability(settings)

    async def main() -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        return await grace.run()

    return asyncio.run(main())
