"""Forking children and the master's record of each one.

The master forks (like gunicorn's arbiter) rather than spawning interpreters: the
modules are already imported, so a crashed worker is replaced in milliseconds.

Forking happens inside the master's running asyncio loop. The child never uses
that loop and starts its own: CPython itself forgets the running loop in a
forked child (3.11 ties it to the pid, 3.12+ resets it in an at-fork hook;
tests/test_library_internals.py checks it). The master loop's descriptors (its
epoll instance and self-pipe) stay open, unused, in the child: closing them
through the loop would unregister the master's watchers from the epoll set both
share, and reaching them otherwise takes the loop's private attributes. The
child drops the signal wake-up fd (the master's self-pipe: a signal to the
child must not wake the master) and the master's pipes to other children."""

from __future__ import annotations

import gc
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..logging import flush_logs
from .beacon import Beacon
from .child import ChildContext, remember_stop_signals
from .process import die_with_parent, set_title

ChildTarget = Callable[[ChildContext], int]

LABELS = {"api": "api worker", "job": "job worker"}
_ALL_SIGNALS = set(signal.valid_signals())


def title_of(kind: str, index: int) -> str:
    return f"files-manager: {LABELS.get(kind, kind)} {index}"


@dataclass
class Child:
    """What the master knows about one live child."""

    pid: int
    kind: str
    index: int
    generation: int
    fd: int  # read end of the child's pipe (ready + heartbeats)
    started: float
    last_beat: float
    ready: bool = False
    retiring: bool = False  # asked to stop by the master: its exit is expected
    hung: bool = False
    stop_sent_at: float | None = None

    @property
    def slot(self) -> tuple[str, int]:
        return (self.kind, self.index)

    @property
    def name(self) -> str:
        return f"{LABELS.get(self.kind, self.kind)} {self.index}"


def _leave_the_master(fds: Iterable[int]) -> None:
    """In the child: drop the master's signal wake-up fd and its pipes to other children."""
    signal.set_wakeup_fd(-1)
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def _reset_signals() -> None:
    for sig in (signal.SIGCHLD, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)
    remember_stop_signals()
    # Operator signals meant for the master (the terminal sends them to the whole
    # group): a child ignores them rather than stop or die.
    for sig in (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_IGN)


def fork_child(
    *,
    kind: str,
    index: int,
    generation: int,
    target: ChildTarget,
    make_context: Callable[[str, int, int, str, Beacon], ChildContext],
    master_fds: Iterable[int],
    now: float,
    on_fork_in_child: Callable[[], None] = lambda: None,
) -> Child:
    """Fork one child running `target(ctx)`; the child never returns from here."""
    read_fd, write_fd = os.pipe()
    os.set_inheritable(read_fd, False)
    master_pid = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything the master allocated (imported modules, settings) goes to the
    # permanent generation: the child's collector never walks it (less GC work
    # per request) and never touches its pages (no copy-on-write).
    gc.freeze()
    # Signals stay blocked across fork so none lands in the child while it still
    # has the master's handlers (they would write to the master's wake-up fd).
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _ALL_SIGNALS)
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        os.close(read_fd)
        os.close(write_fd)
        raise
    if pid == 0:  # the child
        code = 1
        try:
            _leave_the_master([read_fd, *master_fds])
            _reset_signals()
            on_fork_in_child()
            title = title_of(kind, index)
            set_title(title)
            die_with_parent(master_pid)
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
            ctx = make_context(kind, index, generation, title, Beacon(write_fd))
            code = target(ctx)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # noqa: BLE001 - the child's last stand: report, exit 1
            traceback.print_exc()
            code = 1
        finally:
            try:
                flush_logs()  # os._exit skips atexit: buffered request lines go out now
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    os.close(write_fd)
    os.set_blocking(read_fd, False)
    return Child(pid=pid, kind=kind, index=index, generation=generation, fd=read_fd,
                 started=now, last_beat=now)
