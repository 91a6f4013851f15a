"""sd_notify in a few lines: systemd's readiness protocol over a Unix datagram socket."""

from __future__ import annotations

import os
import socket


class Notifier:
    """Sends `READY=1`, `STATUS=...` etc. to `$NOTIFY_SOCKET`; a no-op without it."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ) if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):  # abstract namespace
            address = "\0" + address[1:]
        self._address = address or None
        self._sock: socket.socket | None = None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        self.watchdog_interval = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 and mine else None

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, *lines: str) -> None:
        if self._address is None:
            return
        try:
            if self._sock is None:
                # Non-blocking: a full queue (systemd busy) loses a message
                # rather than freezing the master's loop.
                self._sock = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
            self._sock.sendto("\n".join(lines).encode(), self._address)
        except OSError:
            pass  # systemd gone or not listening: never a reason to fail the service

    def hand_over(self) -> None:
        """Another process is the service's main process now (a SIGUSR2 upgrade):
        say nothing more, since a STOPPING=1 of ours would stop the service."""
        self.close_in_child()
        self._address = None
        self.watchdog_interval = None

    def close_in_child(self) -> None:
        """A forked child must not talk to systemd in the master's name."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
