"""Start supervisor.py the way systemd would: this process sets the variables
that must name the service's own pid (LISTEN_PID, WATCHDOG_PID), moves a passed
socket to fd 3, then execs supervisor.py (same pid, so the variables hold).

    python as_systemd.py [--socket FD] [--listen-fds N] [--listen-pid PID]
                         [--watchdog] [--mdwe] -- SUPERVISOR ARGS...
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_PR_SET_MDWE, _PR_MDWE_REFUSE_EXEC_GAIN = 65, 1  # Linux 6.3+; inherited across fork and exec


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--socket", type=int, help="fd of a listening socket, moved to fd 3")
    parser.add_argument("--listen-fds", default="1")
    parser.add_argument("--listen-pid", help="default: this process's pid (as systemd sets it)")
    parser.add_argument("--watchdog", action="store_true", help="WATCHDOG_PID = this pid")
    parser.add_argument("--mdwe", action="store_true",
                        help="the kernel's MemoryDenyWriteExecute (PR_SET_MDWE), as the unit sets it")
    parser.add_argument("args", nargs="*")
    options = parser.parse_args()
    if options.socket is not None:
        if options.socket != 3:
            os.dup2(options.socket, 3)
            os.close(options.socket)
        os.environ["LISTEN_FDS"] = options.listen_fds
        os.environ["LISTEN_PID"] = options.listen_pid or str(os.getpid())
    if options.mdwe:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_MDWE, _PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
            sys.exit(f"as_systemd.py: PR_SET_MDWE failed: {os.strerror(ctypes.get_errno())}")
    if options.watchdog:
        os.environ["WATCHDOG_PID"] = str(os.getpid())
    script = str(ROOT / "supervisor.py")
    os.execv(sys.executable, [sys.executable, script, *options.args])


if __name__ == "__main__":
    main()
