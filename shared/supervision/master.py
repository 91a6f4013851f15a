"""The master: one Grace app that keeps the right children alive.

It owns no request or job work. Its start hook forks the children, a supervise
task watches heartbeats, readiness and due restarts, SIGCHLD reaps, and its
shutdown hook stops every child and waits (bounded by the graceful timeout,
after which the timeout callback SIGKILLs the stragglers: exit 1)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from socket import socket

from ..config import Settings, cpu_count
from ..grace import Grace
from ..logging import get_logger
from ..metrics import supervision as supervision_metrics
from .beacon import READY, RECYCLE
from .child import ChildContext
from .children import Child, ChildTarget, fork_child, title_of
from .notify import Notifier
from .policy import Backoff, CrashWindow
from .process import describe_exit, read_pipe, set_title
from .recycle import Recycler
from .reload import Reload
from .upgrade import Upgrade

log = get_logger("supervisor")

_TICK = 0.05  # how often the supervise task looks at heartbeats and due restarts
_REAP_AFTER_KILL = 2.0  # seconds to collect SIGKILLed children before exiting


@dataclass(frozen=True)
class Kind:
    """One kind of child: what it runs and how many of it the settings ask for."""

    name: str  # "api" / "job"
    target: ChildTarget
    count: Callable[[Settings], int]


def api_count(settings: Settings) -> int:
    return settings.server.workers or cpu_count()


def job_count(settings: Settings) -> int:
    return settings.worker.processes


class Master:
    def __init__(
        self,
        settings: Settings,
        kinds: list[Kind],
        sock: socket | None,
        *,
        reload_settings: Callable[[], Settings],
        notifier: Notifier | None = None,
    ) -> None:
        self.settings = settings
        self.kinds = {kind.name: kind for kind in kinds}
        self.sock = sock
        self._reload_settings = reload_settings
        self.notify = notifier or Notifier()
        sup = settings.supervisor
        self.grace = Grace("master", timeout=sup.graceful_timeout, on_timeout=self._force_stop)
        self.children: dict[int, Child] = {}
        self.generation = 1
        self.counts = self._counts(settings)
        self._backoff: dict[tuple[str, int], Backoff] = {}
        self._due: dict[tuple[str, int], float] = {}  # slot -> when to (re)spawn
        self._crashes = CrashWindow(sup.crash_limit, sup.crash_window)
        self._ready_announced = False
        self._reason = ""
        self._all_gone = asyncio.Event()
        self._last_watchdog = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self.upgrade = Upgrade(self)  # SIGUSR2: a new master from the code on disk
        self.recycler = Recycler(self)
        self.reload = Reload(self)  # SIGHUP

    # --- wiring ---------------------------------------------------------------
    def _counts(self, settings: Settings) -> dict[str, int]:
        return {name: kind.count(settings) for name, kind in self.kinds.items()}

    async def run(self) -> int:
        set_title("files-manager: master")
        self._loop = loop = asyncio.get_running_loop()
        grace = self.grace
        grace.on_error(lambda exc, ctx: log.error("master.error", exc_info=exc, **ctx))
        grace.on_start(self._start)
        grace.on_shutdown(self.upgrade.abandon)  # a new master still starting stops too
        grace.on_shutdown(self._stop_children)
        grace.on_shutdown(self.upgrade.wait_abandoned)
        grace.on_exit(self._exit)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_stop_signal, sig)
        loop.add_signal_handler(signal.SIGHUP, self.reload.on_signal)
        loop.add_signal_handler(signal.SIGTTIN, self._scale, +1)
        loop.add_signal_handler(signal.SIGTTOU, self._scale, -1)
        loop.add_signal_handler(signal.SIGCHLD, self._reap)
        loop.add_signal_handler(signal.SIGUSR2, self.upgrade.start)
        return await grace.run()

    def shutdown(self, code: int = 0, reason: str = "shutdown()") -> None:
        """Stop the whole service with `code` (grace's app.shutdown in the master)."""
        if not self.grace.stopping:
            self._reason = reason
        self.grace.shutdown(code)

    async def _start(self) -> None:
        log.info("master.start", pid=os.getpid(), api_workers=self.counts.get("api", 0),
                 job_workers=self.counts.get("job", 0), port=self.settings.server.port,
                 host=self.settings.server.host)
        self._status("starting")
        now = self._now()
        for name, count in self.counts.items():
            for index in range(1, count + 1):
                self._due[(name, index)] = now
        self._spawn_due()
        self.grace.spawn(self._supervise(), name="supervise")
        self._check_progress()  # nothing to wait for when no child is configured

    # --- signals --------------------------------------------------------------
    def _on_stop_signal(self, sig: int) -> None:
        name = signal.Signals(sig).name
        if self.grace.stopping:
            log.warning("shutdown.second_signal", signal=name)
            self.grace.force()
        else:
            self.shutdown(0, reason=f"signal {name}")

    # --- children ---------------------------------------------------------------
    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _context(self, kind: str, index: int, generation: int, title: str, beacon) -> ChildContext:
        return ChildContext(kind=kind, index=index, generation=generation, title=title,
                            settings=self.settings, sock=self.sock if kind == "api" else None,
                            beacon=beacon, master_pid=os.getpid())

    def _spawn(self, kind: str, index: int, generation: int) -> Child:
        child = fork_child(
            kind=kind, index=index, generation=generation, target=self.kinds[kind].target,
            make_context=self._context, master_fds=[c.fd for c in self.children.values()],
            now=self._now(), on_fork_in_child=lambda: self._in_child(kind),
        )
        self.children[child.pid] = child
        assert self._loop is not None
        self._loop.add_reader(child.fd, self._on_pipe, child)
        log.info("child.spawn", pid=child.pid, kind=kind, index=index, generation=generation)
        supervision_metrics.children_changed(self.children.values())
        return child

    def _in_child(self, kind: str) -> None:
        """Runs in a freshly forked child: drop what is the master's alone."""
        self.notify.close_in_child()
        if kind != "api" and self.sock is not None and self.sock.fileno() >= 0:
            # A job worker holding the listening socket would keep it open (and
            # the kernel queueing connections) after every API worker stopped.
            os.close(self.sock.detach())

    def _spawn_due(self) -> None:
        if self.grace.stopping:
            self._due.clear()
            return
        now = self._now()
        for slot, when in list(self._due.items()):
            if when > now:
                continue
            del self._due[slot]
            kind, index = slot
            if index > self.counts.get(kind, 0):
                continue  # scaled down meanwhile
            self._spawn(kind, index, self._target_generation())

    def _on_pipe(self, child: Child) -> None:
        data = read_pipe(child.fd, 4096)
        if data is None:
            return
        if not data:  # the child closed its end: it is exiting; SIGCHLD follows
            assert self._loop is not None
            self._loop.remove_reader(child.fd)
            return
        child.last_beat = self._now()
        if READY in data and not child.ready:
            child.ready = True
            log.info("child.ready", pid=child.pid, kind=child.kind, index=child.index,
                     generation=child.generation,
                     boot_ms=round((child.last_beat - child.started) * 1000, 1))
            self._check_progress()
            self.recycler.ready(child)
        if RECYCLE in data:
            self.recycler.asked(child)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            child = self.children.pop(pid, None)
            if child is None:
                self.upgrade.reaped(pid, status)  # a new master of SIGUSR2's, never a worker
                continue
            self._forget(child)
            supervision_metrics.child_exited(pid)
            supervision_metrics.children_changed(self.children.values())
            fields, cause = describe_exit(status)
            crashed = not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0)
            log.info("child.exit", pid=pid, kind=child.kind, index=child.index,
                     generation=child.generation, expected=child.retiring or self.grace.stopping,
                     **fields)
            if child.hung:
                cause = f"hung (no heartbeat for {self.settings.supervisor.heartbeat_timeout:g} s)"
            self.recycler.exited(child)
            self._after_exit(child, crashed, cause)
        if not self.children:
            self._all_gone.set()
        else:
            self._all_gone.clear()

    def _forget(self, child: Child) -> None:
        assert self._loop is not None
        self._loop.remove_reader(child.fd)
        try:
            os.close(child.fd)
        except OSError:
            pass

    def _after_exit(self, child: Child, crashed: bool, cause: str) -> None:
        if self.grace.stopping or child.retiring:
            return
        if crashed and self.reload.generation is not None and child.generation == self.reload.generation:
            self.reload.abort(child, cause)
            return
        if child.generation < self._target_generation():
            return  # a reload is bringing up its successor
        if self._current(child.slot) is not None:
            return  # already replaced (e.g. a reload brought up its successor)
        now = self._now()
        if child.index > self.counts.get(child.kind, 0):
            return
        if crashed:
            if self._crashes.record(now):
                log.error("master.crash_loop", child=child.name, pid=child.pid, cause=cause,
                          crashes=self._crashes.limit + 1, window=self._crashes.window)
                self.shutdown(1, reason=f"crash loop: {child.name} {cause}")
                return
            delay = self._backoff.setdefault(child.slot, Backoff()).after_crash(now - child.started)
        else:
            delay = 0.0  # asked to stop by itself (grace.shutdown(0) in the child)
        log.info("child.restart", kind=child.kind, index=child.index, delay=delay,
                 cause=cause, crashed=crashed)
        reason = "hang" if child.hung else "crash" if crashed else "exit"
        supervision_metrics.restarted(child.kind, reason)
        self._due[child.slot] = now + delay
        self._spawn_due()

    def _target_generation(self) -> int:
        return self.reload.generation or self.generation

    def _current(self, slot: tuple[str, int]) -> Child | None:
        target = self._target_generation()
        for child in self.children.values():
            if child.slot == slot and not child.retiring and child.generation >= target:
                return child
        return None

    def may_recycle(self, child: Child) -> bool:
        """Not while stopping or reloading (a reload replaces it anyway), nor a child on its way out."""
        return (not self.grace.stopping and self.reload.generation is None and not child.retiring
                and child.generation == self.generation and child.index <= self.counts.get(child.kind, 0))

    def _retire(self, child: Child, sig: int = signal.SIGTERM) -> None:
        child.retiring = True
        child.stop_sent_at = self._now()
        try:
            os.kill(child.pid, sig)
        except ProcessLookupError:
            pass

    # --- the supervise task -------------------------------------------------------
    async def _supervise(self) -> None:
        while not self.grace.stopping:
            await asyncio.sleep(_TICK)
            now = self._now()
            timeout = self.settings.supervisor.heartbeat_timeout
            grace_period = self.settings.supervisor.graceful_timeout
            for child in list(self.children.values()):
                if (child.retiring and child.stop_sent_at is not None and not child.hung
                        and now - child.stop_sent_at > grace_period):
                    # Retired by a reload or SIGTTOU and still there: same rule as a shutdown.
                    child.hung = True
                    log.error("child.forced", pid=child.pid, kind=child.kind, index=child.index)
                    try:
                        os.kill(child.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    continue
                if not child.hung and now - child.last_beat > timeout:
                    child.hung = True
                    log.error("child.hung", pid=child.pid, kind=child.kind, index=child.index,
                              silent_for=round(now - child.last_beat, 2))
                    try:
                        os.kill(child.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            self._spawn_due()
            self.recycler.tick(now)
            self._watchdog(now)

    def _watchdog(self, now: float) -> None:
        interval = self.notify.watchdog_interval
        if interval is None or now - self._last_watchdog < interval:
            return
        if not self._ready_announced or any(c.hung for c in self.children.values()):
            return  # starting (TimeoutStartSec covers it) or a child is hung
        self._last_watchdog = now
        self.notify.send("WATCHDOG=1")

    def _all_ready(self, generation: int) -> bool:
        for kind, count in self.counts.items():
            for index in range(1, count + 1):
                if not any(c.slot == (kind, index) and c.ready and not c.retiring
                           and c.generation >= generation for c in self.children.values()):
                    return False
        return True

    def _check_progress(self) -> None:
        if self.grace.stopping:
            return
        if not self._ready_announced and self._all_ready(self.generation):
            self._ready_announced = True
            log.info("master.ready", pid=os.getpid(), children=len(self.children))
            self.notify.send("READY=1", self._status_line("serving"))
            self.upgrade.announce_ready()  # when started by SIGUSR2: take over now
        if self.reload.generation is not None and self._all_ready(self.reload.generation):
            self.reload.finish()

    def _status(self, what: str) -> None:
        self.notify.send(self._status_line(what))

    def _status_line(self, what: str) -> str:
        api = sum(1 for c in self.children.values() if c.kind == "api" and not c.retiring)
        job = sum(1 for c in self.children.values() if c.kind == "job" and not c.retiring)
        return f"STATUS={what}: {api} api workers, {job} job workers"

    # --- reload and scaling ------------------------------------------------------
    def _apply(self, settings: Settings, counts: dict[str, int]) -> None:
        """Settings (and the children counts) a reload brings, or its abort brings back."""
        self.settings, self.counts = settings, counts
        sup = settings.supervisor
        self._crashes = CrashWindow(sup.crash_limit, sup.crash_window)
        self.grace.timeout(sup.graceful_timeout)
        self._due.clear()

    def _scale(self, step: int) -> None:
        if self.grace.stopping or "api" not in self.counts:
            return
        count = self.counts["api"]
        if step < 0 and count <= 1:
            log.warning("scale.refused", api_workers=count, reason="at least one API worker")
            return
        self.counts["api"] = count + step
        log.info("scale", api_workers=self.counts["api"])
        if step > 0:
            self._spawn("api", count + 1, self._target_generation())
        else:
            self._due.pop(("api", count), None)
            for child in list(self.children.values()):
                if child.slot == ("api", count) and not child.retiring:
                    self._retire(child)
        self._status("serving")

    # --- shutdown ----------------------------------------------------------------
    async def _stop_children(self, time_left: float) -> None:
        log.info("shutdown.start", reason=self._reason or "shutdown()",
                 children=len(self.children), timeout=time_left)
        self.notify.send("STOPPING=1", "STATUS=stopping")
        self._due.clear()
        if self.sock is not None:
            # Our copy only: once the last worker stops accepting, new connections
            # are refused at once instead of waiting in a backlog nobody reads.
            self.sock.close()
        for child in list(self.children.values()):
            self._retire(child)
        self._reap()
        await self._all_gone.wait()

    async def _force_stop(self) -> None:
        """The graceful timeout passed or a second signal came: SIGKILL whoever is left."""
        left = list(self.children.values())
        log.error("shutdown.forced", children=[{"pid": c.pid, "kind": c.kind, "index": c.index}
                                               for c in left])
        for child in left:
            try:
                os.kill(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._reap()
        try:
            await asyncio.wait_for(self._all_gone.wait(), _REAP_AFTER_KILL)
        except TimeoutError:
            log.error("shutdown.unreaped", pids=list(self.children))

    def _exit(self, code: int) -> None:
        log.info("exit", code=code, reason=self._reason or None)
        self.notify.send(f"STATUS=exited with code {code}")


__all__ = ["Kind", "Master", "api_count", "job_count", "title_of"]
