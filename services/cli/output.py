"""How a command answers: a human text or one JSON document on stdout,
problems on stderr, a progress bar on stderr when it is a terminal."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2


class Problem(Exception):
    """What a command raises to stop with its message on stderr and exit 1 (main.py)."""


class Output:
    def __init__(self, as_json: bool, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.as_json = as_json
        self._out = out or sys.stdout
        self._err = err or sys.stderr

    def result(self, data: Any, text: str) -> None:
        """The command's answer: `data` with --json, else `text`."""
        if self.as_json:
            self._out.write(json.dumps(data, indent=2, default=str) + "\n")
        elif text:
            self._out.write(text.rstrip("\n") + "\n")
        self._out.flush()

    def problem(self, message: str) -> None:
        """A line for the operator on stderr (never in the JSON on stdout)."""
        self._err.write(f"supervisor.py: {message}\n")
        self._err.flush()

    @contextmanager
    def progress(self, total: int | None, what: str) -> Iterator[Progress]:
        bar = Progress(self._err, total, what, drawn=not self.as_json and self._err.isatty())
        try:
            yield bar
        finally:
            bar.close()


class Progress:
    """`[#####.....]  512/1024 files` redrawn at most 10 times a second."""

    WIDTH = 30

    def __init__(self, err: TextIO, total: int | None, what: str, drawn: bool) -> None:
        self._err, self.total, self.what, self.drawn = err, total, what, drawn
        self.done = 0
        self._last = 0.0

    def advance(self, step: int = 1) -> None:
        self.done += step
        now = time.monotonic()
        if self.drawn and now - self._last >= 0.1:
            self._last = now
            self._draw()

    def _draw(self) -> None:
        if self.total:
            filled = min(self.WIDTH, self.WIDTH * self.done // self.total)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            line = f"\r[{bar}] {self.done}/{self.total} {self.what}"
        else:
            line = f"\r{self.done} {self.what}"
        self._err.write(line)
        self._err.flush()

    def close(self) -> None:
        if self.drawn:
            self._draw()
            self._err.write("\n")
            self._err.flush()
