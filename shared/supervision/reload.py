"""SIGHUP: a rolling reload. The config is read again, a new generation of
children is brought up beside the old one, and the old one retires once every
new child is ready. A new child that crashes first aborts it: the old children
(still serving) stay and the old settings come back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import ConfigError, Settings
from ..logging import get_logger
from ..metrics import supervision as supervision_metrics
from .children import Child

if TYPE_CHECKING:
    from .master import Master

log = get_logger("supervisor")


class Reload:
    def __init__(self, master: Master) -> None:
        self.master = master
        self.generation: int | None = None  # the generation being brought up
        self._before: tuple[Settings, dict[str, int]] = (master.settings, {})

    def on_signal(self) -> None:
        master = self.master
        if master.grace.stopping:
            return
        if self.generation is not None:
            log.warning("reload.busy", generation=self.generation)
            return
        self._start()

    def _start(self) -> None:
        master = self.master
        log.info("reload.start", generation=master.generation + 1)
        master.notify.send("RELOADING=1", "STATUS=reloading")
        try:
            new = master._reload_settings()
        except ConfigError as exc:
            log.error("reload.failed", error=str(exc))
            master.notify.send("READY=1", master._status_line("serving (reload failed)"))
            return
        old = master.settings
        if (new.server.host, new.server.port) != (old.server.host, old.server.port):
            log.warning("reload.address_kept", reason="the listening socket is bound once",
                        host=old.server.host, port=old.server.port)
        self._before = (old, dict(master.counts))
        master._apply(new, master._counts(new))
        self.generation = master.generation + 1
        for kind, count in master.counts.items():
            for index in range(1, count + 1):
                master._spawn(kind, index, self.generation)
                supervision_metrics.restarted(kind, "reload")
        master._check_progress()

    def abort(self, child: Child, cause: str) -> None:
        """A new child crashed before the reload finished."""
        master = self.master
        generation = self.generation
        log.error("reload.failed", error=f"new {child.name} {cause}", generation=generation)
        for other in list(master.children.values()):
            if other.generation == generation and not other.retiring:
                master._retire(other)
        self.generation = None
        master._apply(*self._before)
        for kind, count in master.counts.items():  # any old slot that died meanwhile
            for index in range(1, count + 1):
                if master._current((kind, index)) is None:
                    master._due[(kind, index)] = master._now()
        master._spawn_due()
        master.notify.send("READY=1", master._status_line("serving (reload failed)"))

    def finish(self) -> None:
        master = self.master
        generation = self.generation
        assert generation is not None
        for child in list(master.children.values()):
            if child.generation < generation and not child.retiring:
                master._retire(child)
        master.generation = generation
        self.generation = None
        log.info("reload.done", generation=generation)
        master.notify.send("READY=1", master._status_line("serving"))
