"""The node's metrics directory: where every process of one master writes its
figures (prometheus_client's multiprocess mode) and where a scrape reads them.

prometheus_client picks how it stores values when it is first imported, from
PROMETHEUS_MULTIPROC_DIR: so the master makes the directory, and points the
variable at it, before anything imports it, and before any child exists (a
child inherits both). One directory per master, made fresh: two masters run at
once during an upgrade (SIGUSR2), and the new one inherits the old one's
environment, variable included. The master removes it at exit; one left by a
master that was killed is removed by the next master of the same user.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from ..config import MetricsSettings

ENV = "PROMETHEUS_MULTIPROC_DIR"
_LEGACY_ENV = "prometheus_multiproc_dir"  # still read by prometheus_client
PREFIX = "files-manager-metrics-"


def metrics_wanted(settings: MetricsSettings) -> bool:
    """Metrics are served (so recorded) when a token or a port is set."""
    return bool(settings.token or settings.port)


def metrics_directory() -> Path | None:
    """This master's directory, in the master and its children; None when metrics are off."""
    value = os.environ.get(ENV)
    return Path(value) if value else None


def prepare_directory(settings: MetricsSettings) -> Path | None:
    """In the master, first thing: a fresh directory when metrics are on
    (removed at exit), none otherwise (an inherited one is forgotten)."""
    os.environ.pop(ENV, None)
    os.environ.pop(_LEGACY_ENV, None)
    if not metrics_wanted(settings):
        return None
    _remove_orphans()
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
    os.environ[ENV] = str(path)
    atexit.register(_remove, path, os.getpid())
    return path


def _remove(path: Path, owner: int) -> None:
    if os.getpid() == owner:  # never from a forked child (they leave by os._exit anyway)
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_orphans() -> None:
    """Directories of our masters that died without cleaning up (SIGKILL)."""
    uid = os.getuid()
    for entry in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        pid = entry.name[len(PREFIX):].partition("-")[0]
        with contextlib.suppress(OSError):
            if pid.isdigit() and entry.is_dir() and entry.stat().st_uid == uid and not _alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)
