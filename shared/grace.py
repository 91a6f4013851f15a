"""The graceful-application core, after the Node module grace: one per process.

    app = Grace("api worker 2", timeout=25, on_timeout=kill_stragglers)
    app.on_start(open_things)          # run when the process is up (sync or async)
    app.on_shutdown(close_things)      # async (time_left) -> None, in registration order
    app.on_error(report)               # (exc, context) for every error routed here
    app.on_exit(lambda code: ...)      # given the final code
    code = await app.run()             # start hooks, wait for shutdown(), shutdown hooks, exit hooks

`shutdown(code)` may be called from anywhere (a handler, a signal handler, another
thread); the first call fixes the code, later ones only raise it to 1 if they ask
for a failure. Errors have two fates, as with grace's domains:
- contained (`contain()` / `report()`): one request or job failed; the error hooks
  see it once and the process goes on;
- escaped (`fail()`, a task from `spawn()` that dies, an error in a start or
  shutdown hook, an unhandled error reported to the loop): the error hooks see it,
  then the process shuts down with code 1. Never "log and carry on" in an unknown state.

If the shutdown hooks outlast `timeout`, or `force()` is called (a second signal),
they are cancelled, the timeout callback runs and the code is 1.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

StartHook = Callable[[], Any]
ShutdownHook = Callable[[float], Awaitable[Any]]
ErrorHook = Callable[[BaseException, dict[str, Any]], Any]
ExitHook = Callable[[int], Any]

# How long cancelled shutdown hooks get to unwind once the exit is forced.
_UNWIND = 1.0


class Grace:
    def __init__(
        self,
        name: str = "app",
        *,
        timeout: float | None = None,
        on_timeout: Callable[[], Any] | None = None,
    ) -> None:
        self.name = name
        self._start: list[StartHook] = []
        self._shutdown: list[ShutdownHook] = []
        self._error: list[ErrorHook] = []
        self._exit: list[ExitHook] = []
        self._timeout = timeout
        self._on_timeout = on_timeout
        self._code: int | None = None
        self._forced = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._force_event: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._lock = threading.Lock()

    # --- registration -------------------------------------------------------
    def on_start(self, hook: StartHook) -> StartHook:
        self._start.append(hook)
        return hook

    def on_shutdown(self, hook: ShutdownHook) -> ShutdownHook:
        self._shutdown.append(hook)
        return hook

    def on_error(self, hook: ErrorHook) -> ErrorHook:
        self._error.append(hook)
        return hook

    def on_exit(self, hook: ExitHook) -> ExitHook:
        self._exit.append(hook)
        return hook

    def timeout(self, seconds: float | None, callback: Callable[[], Any] | None = None) -> None:
        """Bound the shutdown hooks; `callback` runs when the exit is forced."""
        self._timeout = seconds
        if callback is not None:
            self._on_timeout = callback

    # --- state --------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        return self._code is not None

    @property
    def code(self) -> int | None:
        return self._code

    async def wait_stopping(self) -> None:
        """Until a stop is asked: for a start hook still waiting (the shutdown
        hooks run only once the start hooks are done)."""
        if self._stop is None:
            raise RuntimeError("run() first")
        await self._stop.wait()

    def shutdown(self, code: int = 0) -> None:
        """Ask for a graceful stop with `code`. Safe from any thread or signal handler."""
        with self._lock:
            if self._code is None or (code and not self._code):
                self._code = code
        self._wake(self._stop)

    def force(self) -> None:
        """Stop waiting for the shutdown hooks (a second signal): exit now with 1."""
        self.shutdown(1)
        self._forced = True
        self._wake(self._force_event)

    def _wake(self, event: asyncio.Event | None) -> None:
        loop = self._loop
        if loop is None or event is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            event.set()
        else:
            loop.call_soon_threadsafe(event.set)

    # --- errors -------------------------------------------------------------
    def report(self, exc: BaseException, **context: Any) -> None:
        """A contained error: the error hooks see it once; nothing else happens."""
        context.setdefault("fatal", False)
        for hook in self._error:
            try:
                hook(exc, context)
            except Exception:  # an error hook must never take the process down
                pass

    def fail(self, exc: BaseException, **context: Any) -> None:
        """An escaped error: the error hooks, then a shutdown with code 1."""
        context["fatal"] = True
        self.report(exc, **context)
        self.shutdown(1)

    @contextmanager
    def contain(self, **context: Any) -> Iterator[None]:
        """Around one request or one job: an exception ends there, reported once."""
        try:
            yield
        except Exception as exc:
            self.report(exc, **context)

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """A background task: if it dies of an exception, the process shuts down with 1."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            self.fail(exc, where=f"task {task.get_name()}")

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if exc is None or isinstance(exc, (OSError, asyncio.CancelledError)):
            # Transport noise (a client hung up) is not our state going bad.
            loop.default_exception_handler(context)
            return
        self.fail(exc, where=context.get("message", "event loop"))

    # --- life ---------------------------------------------------------------
    async def run(self) -> int:
        """Start hooks, wait for shutdown(), shutdown hooks (bounded), exit hooks -> code."""
        self._loop = loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._force_event = asyncio.Event()
        if self._code is not None:
            self._stop.set()
        if self._forced:
            self._force_event.set()
        loop.set_exception_handler(self._loop_error)
        try:
            for hook in self._start:
                result = hook()
                if inspect.isawaitable(result):
                    await result
                if self._stop.is_set():
                    break
        except Exception as exc:
            self.fail(exc, where="start")
        await self._stop.wait()
        await self._run_shutdown(loop)
        code = self._code if self._code is not None else 0
        for exit_hook in self._exit:
            try:
                exit_hook(code)
            except Exception as exc:
                self.report(exc, where="exit")
        return code

    async def _run_shutdown(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self._force_event is not None
        started = loop.time()

        async def hooks() -> None:
            for hook in self._shutdown:
                left = (
                    float("inf")
                    if self._timeout is None
                    else max(0.0, self._timeout - (loop.time() - started))
                )
                try:
                    await hook(left)
                except Exception as exc:
                    self.report(exc, where="shutdown", fatal=True)
                    self.shutdown(1)

        work = loop.create_task(hooks(), name=f"{self.name} shutdown")
        forced = loop.create_task(self._force_event.wait())
        done, _ = await asyncio.wait({work, forced}, timeout=self._timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        forced.cancel()
        if work in done:
            return
        work.cancel()
        await asyncio.wait({work}, timeout=_UNWIND)
        self.shutdown(1)
        with self._lock:
            self._code = 1
        if self._on_timeout is not None:
            try:
                result = self._on_timeout()
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                self.report(exc, where="timeout callback")
