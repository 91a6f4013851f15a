"""Per-process plumbing: titles in `ps`, the parent-death signal, and finding
every process a run started (tests and benchmarks check none outlives them)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal

from setproctitle import setproctitle

_PAGE = os.sysconf("SC_PAGE_SIZE")
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return False


def read_pipe(fd: int, size: int) -> bytes | None:
    """What a non-blocking pipe holds: None if nothing yet, b"" once the other
    end is closed (or the pipe broke)."""
    try:
        return os.read(fd, size)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def describe_exit(status: int) -> tuple[dict, str]:
    """A waitpid status -> log fields and a phrase for humans ("killed by SIGKILL")."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:  # a real-time signal has no name
            name = str(sig)
        return {"signal": name}, f"killed by {name}"
    code = os.waitstatus_to_exitcode(status)
    return {"code": code}, f"exited with code {code}"


def resident_memory(pid: int) -> int | None:
    """Bytes of `pid`'s resident memory (None: gone, or no /proc)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return None


def set_title(title: str) -> None:
    """`files-manager: api worker 2` in ps/top."""
    setproctitle(title)


def die_with_parent(parent_pid: int, sig: int = signal.SIGTERM) -> None:
    """Linux: get `sig` the moment the master dies, so no child outlives it.
    Checked after the prctl in case the master died between fork and here."""
    _prctl(_PR_SET_PDEATHSIG, int(sig))
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), sig)


def become_subreaper() -> bool:
    """Linux: orphans among this process's descendants (a child whose parent
    died, a daemon that double-forked) are re-parented to this process instead
    of init, so `descendants()` still finds them. False where unsupported."""
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def _stat(pid: str) -> tuple[int, str] | None:
    """(parent pid, state letter) of `pid`, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), fields[0]


def descendants(root: int) -> dict[int, str]:
    """Live (not zombie) descendants of `root`, pid -> command line (Linux /proc)."""
    children: dict[int, list[int]] = {}
    zombies = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or (found := _stat(entry)) is None:
            continue
        ppid, state = found
        children.setdefault(ppid, []).append(int(entry))
        if state == "Z":
            zombies.add(int(entry))
    result: dict[int, str] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        if pid not in zombies:
            result[pid] = command_line(pid)
    return result


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace").strip() or "?"
    except OSError:
        return "?"


def reap_zombies() -> None:
    """Collect every exited child (orphans adopted as a subreaper end up here).
    Only once nothing else waits for its own children (a Popen's wait would
    lose its exit code)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
