"""python -m services.worker [--config PATH] [run | status [--json] | requeue-dead]

`status` and `requeue-dead` are `python supervisor.py queue status|requeue-dead`
(the operator's command line, which also purges), kept for scripts: the same
functions (shared/queue_status.py, shared/dead_letters.py) answer both.

`run` (the default) runs one standalone worker until SIGINT/SIGTERM (the same
life as under the supervisor, `serve.py`): exit 0 after a graceful stop (a
second signal cuts it short: the jobs in hand stay pending for the next
consumer), 1 if the worker failed, 2 for a bad config or command line, 3 if it
could not start (Redis or the database unreachable).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from redis.exceptions import RedisError

from shared.config import ConfigError, Settings, load_settings
from shared.dead_letters import requeue_dead
from shared.jobs import KINDS
from shared.logging import configure_logging
from shared.queue_status import format_status, queue_status
from shared.redis_client import open_redis

from .serve import run_standalone


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.worker",
                                     description="The Files Manager job worker.")
    parser.add_argument("--config", metavar="PATH", help="config file (default: config.toml)")
    parser.add_argument("--name", help="consumer name for `run` (default: host:pid:random); "
                        "a worker restarted under the same name first finishes its own pending jobs")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="consume jobs until SIGINT/SIGTERM (the default)")
    status = commands.add_parser("status", help="queue depth, pending, retries, dead letters "
                                     "(as `python supervisor.py queue status`)")
    status.add_argument("--json", action="store_true", help="print JSON")
    commands.add_parser("requeue-dead", help="put the dead letters back on their streams "
                        "(as `python supervisor.py queue requeue-dead`)")
    return parser


async def _status(settings: Settings, as_json: bool) -> int:
    redis = open_redis(settings.redis.url)
    try:
        status = await queue_status(redis)
    finally:
        await redis.aclose()
    print(json.dumps(status, indent=2) if as_json else format_status(status))
    return 0


async def _requeue(settings: Settings) -> int:
    redis = open_redis(settings.redis.url)
    try:
        moved = await requeue_dead(redis, KINDS)
    finally:
        await redis.aclose()
    print(f"requeued {moved} dead letter(s)")
    return 0


def _event_loop_policy() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    command = args.command or "run"
    configure_logging(settings.log, role="worker")
    _event_loop_policy()
    if command == "run":
        return run_standalone(settings, args.name)
    try:
        if command == "status":
            return asyncio.run(_status(settings, args.json))
        return asyncio.run(_requeue(settings))
    except (RedisError, OSError) as exc:
        print(f"redis unreachable: {exc}", file=sys.stderr)  # not the URL: it may hold a password
        return 1


if __name__ == "__main__":
    sys.exit(main())
