"""Whether this API worker is stopping (set by serve.py, read by the edge middleware)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Drain:
    """Set by an API worker that is stopping: every answer from then on carries
    `Connection: close`, so keep-alive clients reconnect to another worker
    instead of racing the close of their idle connection."""

    active: bool = False
