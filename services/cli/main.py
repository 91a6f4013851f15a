"""`python supervisor.py COMMAND ...`: parse, load the settings once, run one
command on its own event loop, exit 0 (done), 1 (it found a problem) or 2 (bad usage).

stdout carries the command's answer only (text, or one JSON document with
--json): logs go to stderr, warnings and worse unless --verbose. What a
command cannot do because a backend is down, or because the input is wrong,
is one line on stderr and the exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import redis.exceptions

from shared.config import ConfigError, Settings, load_settings
from shared.errors import DomainError, EmailTaken, Invalid, StorageUnavailable
from shared.logging import configure_logging

from . import check, fsck, migrate, queue, users
from .output import EXIT_PROBLEM, EXIT_USAGE, Output, Problem

Handler = Callable[[argparse.Namespace, Settings, Output], Coroutine[Any, Any, int]]

DESCRIPTION = """\
Files Manager's operator commands. Each reads the same configuration as the
service (config.toml, the environment, --config) and says more with --help.
Exit codes: 0 done, 1 it found a problem (or a backend did not answer),
2 bad usage or configuration. With --json, stdout holds one JSON document."""

_UNAVAILABLE = (StorageUnavailable, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="supervisor.py", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="No command, or `serve`: run the service (python supervisor.py serve --help).",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH",
                        help="TOML configuration file (default: config.toml beside supervisor.py)")
    common.add_argument("--json", action="store_true", help="print one JSON document (for scripts)")
    common.add_argument("--verbose", "-v", action="store_true",
                        help="log at the configured LOG_LEVEL on stderr (default: warnings only)")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (users, queue, check, fsck, migrate):
        module.register(commands, common)
    return root


def _quiet_logs(settings: Settings, verbose: bool) -> None:
    """Logs on stderr: stdout is the answer."""
    log = settings.log
    level = log.level if verbose else "warning"
    fmt = log.format if log.format != "auto" else ("console" if sys.stderr.isatty() else "json")
    configure_logging(dataclasses.replace(log, level=level, format=fmt), stream=sys.stderr, role="cli")


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)  # exits 2 on bad usage (argparse's convention)
    out = Output(args.json)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        out.problem(f"configuration error: {exc}")
        return EXIT_USAGE
    _quiet_logs(settings, args.verbose)
    handler: Handler = args.handler
    try:
        return asyncio.run(handler(args, settings, out))
    except KeyboardInterrupt:
        out.problem("interrupted")
        return 130
    except Problem as exc:
        out.problem(str(exc))
        return EXIT_PROBLEM
    except EmailTaken as exc:  # an Invalid, but the input was fine: the state is the problem
        out.problem(exc.message)
        return EXIT_PROBLEM
    except Invalid as exc:
        out.problem(exc.message)
        return EXIT_USAGE
    except DomainError as exc:
        out.problem(exc.message)
        return EXIT_PROBLEM
    except _UNAVAILABLE as exc:
        out.problem(f"{type(exc).__name__}: {exc}")
        return EXIT_PROBLEM


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
