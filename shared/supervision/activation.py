"""Socket activation: the listening socket handed over as systemd does it.

systemd (a `.socket` unit) and our own SIGUSR2 upgrade pass the socket the same
way: `LISTEN_FDS=1`, the socket at fd 3, `LISTEN_PID` naming the process meant
to take it (so a child that inherited the environment does not take it too).
The variables are removed once read, for the same reason."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import MutableMapping

LISTEN_FDS_START = 3  # SD_LISTEN_FDS_START
_VARIABLES = ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")
_FAMILIES = (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX)  # ListenStream= a port or a path


class ActivationError(Exception):
    """The passed descriptors are not one listening stream socket; the message says why."""


def passed_socket(env: MutableMapping[str, str] | None = None) -> socket.socket | None:
    """The socket passed to this process, or None when none was (bind one then).

    Raises ActivationError when the variables name this process but fd 3 is not
    a single listening stream socket: better a clear refusal than binding a
    second socket beside the one systemd holds."""
    env = os.environ if env is None else env
    count, pid = env.get("LISTEN_FDS"), env.get("LISTEN_PID")
    for name in _VARIABLES:
        env.pop(name, None)
    if count is None or pid != str(os.getpid()):
        return None  # not for us (an ancestor's, or none at all)
    if count != "1":
        raise ActivationError(f"LISTEN_FDS={count}: expected exactly one socket (one ListenStream=)")
    fd = LISTEN_FDS_START
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        raise ActivationError(f"LISTEN_FDS=1 but fd {fd} is not open: {exc.strerror}") from None
    if not stat.S_ISSOCK(mode):
        raise ActivationError(f"LISTEN_FDS=1 but fd {fd} is not a socket")
    sock = socket.socket(fileno=fd)
    if sock.type != socket.SOCK_STREAM or sock.family not in _FAMILIES:
        sock.detach()
        raise ActivationError(f"fd {fd} is not a stream socket ({sock.family.name}, {sock.type.name})")
    if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        sock.detach()
        raise ActivationError(f"fd {fd} is a socket that does not listen")
    sock.setblocking(False)
    sock.set_inheritable(True)  # the API workers get it as they would a bound one
    return sock


def address_of(sock: socket.socket) -> str:
    """`127.0.0.1:8000`, `[::]:8000` or `unix:/run/files-manager.sock`, for the logs."""
    name = sock.getsockname()
    if isinstance(name, str | bytes):
        return f"unix:{name.decode() if isinstance(name, bytes) else name}"
    host, port = name[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
