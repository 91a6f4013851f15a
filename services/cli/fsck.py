"""`python supervisor.py fsck`."""

from __future__ import annotations

import argparse

from shared.config import Settings

from .output import EXIT_PROBLEM, Output


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("fsck", parents=[common], help="(not yet)")
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    out.problem("fsck: not implemented yet")
    return EXIT_PROBLEM
