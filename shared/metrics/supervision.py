"""What the master counts: its children and why they were replaced."""

from __future__ import annotations

from collections.abc import Iterable

RESTART_REASONS = ("crash", "hang", "exit", "reload", "recycle")


def children_changed(kinds: Iterable[str]) -> None:
    """The kinds of the children alive now (one entry per child)."""


def restarted(kind: str, reason: str) -> None:
    """A child of `kind` was replaced, for one of RESTART_REASONS."""


def child_exited(pid: int) -> None:
    """A child was reaped: what it counted must outlive it, once."""
