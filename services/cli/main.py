"""`python supervisor.py COMMAND ...`: parse, load the settings once, run one
command on its own event loop, exit 0 (done), 1 (it found a problem) or 2 (bad usage)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from shared.config import ConfigError, Settings, load_settings

from . import check, fsck, migrate, queue, users
from .output import EXIT_USAGE, Output

Handler = Callable[[argparse.Namespace, Settings, Output], Coroutine[Any, Any, int]]


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="supervisor.py",
        description="Files Manager's operator commands (no command, or `serve`: run the service).",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH",
                        help="TOML configuration file (default: config.toml beside supervisor.py)")
    common.add_argument("--json", action="store_true", help="print one JSON document (for scripts)")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (users, queue, check, fsck, migrate):
        module.register(commands, common)
    return root


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)  # exits 2 on bad usage (argparse's convention)
    out = Output(args.json)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        out.problem(f"configuration error: {exc}")
        return EXIT_USAGE
    handler: Handler = args.handler
    return asyncio.run(handler(args, settings, out))


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
