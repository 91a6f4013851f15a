"""`python -m tests.metrics.hold_the_directory DIR`: hold DIR as a scrape does
(shared/metrics/store.reading) until a line comes on stdin; says "held" first."""

from __future__ import annotations

import sys
from pathlib import Path

from shared.metrics.store import reading

if __name__ == "__main__":
    with reading(Path(sys.argv[1])):
        print("held", flush=True)
        sys.stdin.readline()
