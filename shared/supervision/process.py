"""Per-process plumbing: titles in `ps`, the parent-death signal."""

from __future__ import annotations

import ctypes
import os
import signal

from setproctitle import setproctitle

_PR_SET_PDEATHSIG = 1


def set_title(title: str) -> None:
    """`files-manager: api worker 2` in ps/top."""
    setproctitle(title)


def die_with_parent(parent_pid: int, sig: int = signal.SIGTERM) -> None:
    """Linux: get `sig` the moment the master dies, so no child outlives it.
    Checked after the prctl in case the master died between fork and here."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), sig)
