"""SIGUSR2: replace the running master by a new one from the code on disk,
without dropping a request (gunicorn's reexec, nginx's binary upgrade).

The old master forks and execs the same command line (same interpreter, same
working directory as given at start, same environment) and hands the new one
the listening socket as systemd would (`LISTEN_FDS=1`, fd 3, `LISTEN_PID`), plus
the write end of a pipe (fd 4) and its own pid. The new master runs its start
checks and brings up its children, which accept from the same socket beside the
old ones. Once all of them are ready it tells systemd it is the main process
(`MAINPID=`, needs `NotifyAccess=all`) and writes `ready` into the pipe; only
then does the old master drain its own children and exit 0. A new master that
exits first (bad config, a failed start check, a crash) or is not ready in
time leaves the old one serving: it is the old master's child, reaped and
logged as `upgrade.failed`."""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import sys
import traceback
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..logging import get_logger
from .activation import LISTEN_FDS_START
from .process import describe_exit, read_pipe

if TYPE_CHECKING:
    from .master import Master

log = get_logger("supervisor")

ENV_FROM = "FILES_MANAGER_UPGRADE_FROM"  # in the new master: the old master's pid
ENV_FD = "FILES_MANAGER_UPGRADE_FD"  # in the new master: where to write "ready"
_READY_FD = LISTEN_FDS_START + 1
_READY = b"ready\n"
_SLACK = 60.0  # on top of the start timeout: imports and every child's boot
_ALL_SIGNALS = set(signal.valid_signals())


def start_dir() -> str:
    """The working directory as the operator named it: $PWD when it is this
    directory (a `current -> releases/7` symlink stays a symlink, so the new
    master resolves it again and runs the new release), else the real path."""
    pwd = os.environ.get("PWD")
    try:
        if pwd and os.path.samefile(pwd, "."):
            return pwd
    except OSError:
        pass
    return os.getcwd()


def upgrading_from(env: Mapping[str, str] | None = None) -> int | None:
    """The old master's pid when this process was started by a SIGUSR2 upgrade."""
    value = (os.environ if env is None else env).get(ENV_FROM, "")
    return int(value) if value.isdigit() else None


class Upgrade:
    """Both sides of an upgrade, for one master: the old one's (start, reaped,
    the hand-over) and the new one's (announce_ready)."""

    def __init__(self, master: Master) -> None:
        self.master = master
        self.pending: int | None = None  # the new master, until it is ready or gone
        self.successor: int | None = None  # the new master, once it took over
        self._cwd = start_dir()
        self._argv = [sys.executable, *sys.orig_argv[1:]]
        self._pipe: int | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._stopping_it = False  # we asked the pending one to stop: its exit is expected
        self._gone = asyncio.Event()
        self._predecessor = self._take_predecessor()

    # --- the new master's side ------------------------------------------------------
    @staticmethod
    def _take_predecessor() -> tuple[int, int] | None:
        old = upgrading_from()
        fd_text = os.environ.pop(ENV_FD, "")
        os.environ.pop(ENV_FROM, None)  # a later upgrade of ours starts afresh
        if old is None or not fd_text.isdigit():
            return None
        fd = int(fd_text)
        try:
            os.set_inheritable(fd, False)
        except OSError:
            return None
        return old, fd

    def announce_ready(self) -> None:
        """Every child of this master serves: take over from the old master."""
        if self._predecessor is None:
            return
        old, fd = self._predecessor
        self._predecessor = None
        self.master.notify.send(f"MAINPID={os.getpid()}", "READY=1")  # before the old one exits
        log.info("upgrade.ready", pid=os.getpid(), old_pid=old)
        try:
            os.write(fd, _READY)
        except OSError as exc:  # the old master is gone already: we serve anyway
            log.warning("upgrade.old_master_gone", old_pid=old, error=exc.strerror)
        finally:
            os.close(fd)

    # --- the old master's side ----------------------------------------------------
    def start(self) -> None:
        """The SIGUSR2 handler."""
        master = self.master
        if master.grace.stopping:
            log.warning("upgrade.refused", reason="the master is stopping")
            return
        if self.pending is not None:
            log.warning("upgrade.busy", pid=self.pending, reason="an upgrade is in progress")
            return
        if self._predecessor is not None:
            log.warning("upgrade.refused", reason="this master is still taking over from the last one")
            return
        if master.sock is None:
            log.warning("upgrade.refused", reason="no listening socket to hand over")
            return
        read_fd, write_fd = os.pipe()
        try:
            pid = self._spawn(write_fd)
        except OSError as exc:
            os.close(read_fd)
            log.error("upgrade.failed", cause=f"cannot start a new master: {exc.strerror}")
            return
        finally:
            os.close(write_fd)
        os.set_blocking(read_fd, False)
        self.pending, self._pipe, self._stopping_it = pid, read_fd, False
        self._gone.clear()
        loop = asyncio.get_running_loop()
        loop.add_reader(read_fd, self._on_pipe)
        wait = master.settings.supervisor.start_timeout + _SLACK
        self._timer = loop.call_later(wait, self._too_slow, wait)
        log.info("upgrade.start", pid=pid, old_pid=os.getpid(), argv=self._argv, cwd=self._cwd)

    def _spawn(self, ready_fd: int) -> int:
        """fork + exec, the socket at fd 3 and the pipe at fd 4: LISTEN_PID must
        name the new process, known only after the fork (as systemd does it)."""
        sock = self.master.sock
        assert sock is not None
        env = dict(os.environ)
        env.pop("LISTEN_FDNAMES", None)
        env.update({"LISTEN_FDS": "1", ENV_FROM: str(os.getpid()), ENV_FD: str(_READY_FD)})
        watchdog = "WATCHDOG_USEC" in env
        sys.stdout.flush()
        sys.stderr.flush()
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, _ALL_SIGNALS)
        try:
            pid = os.fork()
        except BaseException:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
            raise
        if pid == 0:  # pragma: no cover - replaced by exec (tests see the new master's logs)
            try:
                _exec_new_master(sock.fileno(), ready_fd, self._cwd, self._argv, env,
                                 watchdog, previous)
            finally:
                os._exit(127)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        return pid

    def _on_pipe(self) -> None:
        assert self._pipe is not None
        data = read_pipe(self._pipe, 64)
        if data is None:
            return
        if data.startswith(_READY) and self.pending is not None and not self._stopping_it:
            self._hand_over(self.pending)
        elif not data:
            self._close_pipe()  # SIGCHLD tells the rest

    def _hand_over(self, pid: int) -> None:
        self._clear()
        self.successor = pid
        # From now on systemd talks to the new master: a STOPPING=1 or STATUS
        # of ours would stop or mislabel the service.
        self.master.notify.hand_over()
        log.info("upgrade.done", pid=pid, old_pid=os.getpid())
        self.master.shutdown(0, reason=f"upgrade: master {pid} serves now")

    def _too_slow(self, wait: float) -> None:
        pid = self.pending
        if pid is None:
            return
        log.error("upgrade.failed", pid=pid, cause=f"the new master was not ready within {wait:g} s")
        self._stop_pending(signal.SIGTERM)
        grace_period = self.master.settings.supervisor.graceful_timeout
        asyncio.get_running_loop().call_later(grace_period + 5, self._kill_if_pending, pid)

    def _kill_if_pending(self, pid: int) -> None:
        if self.pending == pid:
            self._stop_pending(signal.SIGKILL)

    def _stop_pending(self, sig: int) -> None:
        if self.pending is None:
            return
        self._stopping_it = True
        try:
            os.kill(self.pending, sig)
        except ProcessLookupError:
            pass

    def reaped(self, pid: int, status: int) -> bool:
        """The master reaped `pid`, none of its children: ours? (True if so)."""
        fields, cause = describe_exit(status)
        if pid == self.pending:
            expected = self._stopping_it
            self._clear()
            self._gone.set()
            if expected:
                log.info("upgrade.abandoned", pid=pid, **fields)
            else:
                log.error("upgrade.failed", pid=pid, cause=f"the new master {cause} before it was ready",
                          serving="the old master", **fields)
            return True
        if pid == self.successor:
            log.warning("upgrade.successor_exit", pid=pid, **fields)
            return True
        return False

    def _clear(self) -> None:
        self.pending = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._close_pipe()

    def _close_pipe(self) -> None:
        if self._pipe is not None:
            asyncio.get_running_loop().remove_reader(self._pipe)
            os.close(self._pipe)
            self._pipe = None

    # --- the old master stops while the new one starts ------------------------------
    async def abandon(self, time_left: float) -> None:
        """Shutdown hook, before the children's: a new master still starting
        (its children may serve already) stops too, gracefully."""
        if self.pending is not None:
            log.info("upgrade.abandon", pid=self.pending, reason="the master is stopping")
            self._stop_pending(signal.SIGTERM)

    async def wait_abandoned(self, time_left: float) -> None:
        """Shutdown hook, after the children's: that new master is gone too
        (SIGKILLed if the shutdown is forced)."""
        if self.pending is None:
            return
        try:
            await self._gone.wait()
        except asyncio.CancelledError:
            self._stop_pending(signal.SIGKILL)
            raise


def _exec_new_master(sock_fd: int, ready_fd: int, cwd: str, argv: list[str],
                     env: dict[str, str], watchdog: bool, mask: set) -> None:
    """In the forked child: only async-signal-safe-ish calls, then exec."""
    try:
        signal.set_wakeup_fd(-1)  # the old master's self-pipe: never wake it from here
        for sig in _ALL_SIGNALS:
            if callable(signal.getsignal(sig)):
                signal.signal(sig, signal.SIG_DFL)
        # Ignored survives exec: a second SIGUSR2 sent to the whole unit
        # (`systemctl kill` without --kill-who=main) must not kill the new
        # master before its own handler is in place.
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)
        high_sock = fcntl.fcntl(sock_fd, fcntl.F_DUPFD, 10)
        high_ready = fcntl.fcntl(ready_fd, fcntl.F_DUPFD, 10)
        os.dup2(high_sock, LISTEN_FDS_START)
        os.dup2(high_ready, _READY_FD)
        os.closerange(_READY_FD + 1, os.sysconf("SC_OPEN_MAX"))  # nothing else of ours
        os.chdir(cwd)
        env["LISTEN_PID"] = str(os.getpid())
        if watchdog:
            env["WATCHDOG_PID"] = str(os.getpid())  # systemd's watchdog follows MAINPID
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.execve(argv[0], argv, env)
    except BaseException:  # noqa: BLE001 - say why on stderr; the caller exits 127
        traceback.print_exc()
