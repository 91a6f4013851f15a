"""`python supervisor.py queue status|requeue-dead|purge-dead`: the job
queue as an operator sees it (shared/queue_status.py) and their hands on the
dead letters (shared/dead_letters.py)."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.config import Settings
from shared.dead_letters import purge_dead, requeue_dead
from shared.jobs import KINDS
from shared.queue_status import format_status, queue_status
from shared.redis_client import open_redis

from .output import EXIT_OK, EXIT_PROBLEM, Output


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "queue", help="the job queue: status, dead letters",
        description="The job queue (Redis Streams): what waits, what is in flight, what failed for good.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    status = actions.add_parser(
        "status", parents=[common], help="per kind: depth, pending, retries, consumers, oldest job, dead letters",
        description="Per kind of job: length (waiting + in flight), pending (read by a worker, not "
                    "finished), delayed (retries waiting for their time), consumers, the age of the oldest "
                    "job and the dead letters; then the most recent dead letters with their errors.")
    status.set_defaults(handler=run_status)
    kind_help = "only the dead letters of this kind (default: every kind)"
    requeue = actions.add_parser(
        "requeue-dead", parents=[common], help="put dead letters back on their streams (attempts reset)",
        description="Move dead letters back to their streams, each with its attempts reset to 0, "
                    "for the workers to try again (once the cause is fixed).")
    requeue.add_argument("--kind", choices=KINDS, help=kind_help)
    requeue.set_defaults(handler=run_requeue)
    purge = actions.add_parser(
        "purge-dead", parents=[common], help="delete dead letters",
        description="Delete dead letters for good (their jobs are not run again).")
    purge.add_argument("--kind", choices=KINDS, help=kind_help)
    purge.set_defaults(handler=run_purge)


async def _with_redis(settings: Settings, out: Output, work: Callable[[Redis], Awaitable[int]]) -> int:
    redis = open_redis(settings.redis.url)
    try:
        return await work(redis)
    except (RedisError, OSError) as exc:
        # The error's class only: its text may carry the host, and the URL a password.
        out.problem(f"Redis is unreachable ({type(exc).__name__}); check REDIS_URL")
        return EXIT_PROBLEM
    finally:
        await redis.aclose()


async def run_status(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    async def work(redis: Redis) -> int:
        status = await queue_status(redis)
        out.result(status, format_status(status))
        return EXIT_OK

    return await _with_redis(settings, out, work)


def _moved(args: argparse.Namespace, verb: str, count: int) -> tuple[dict[str, Any], str]:
    which = f" of kind {args.kind}" if args.kind else ""
    return {verb: count, "kind": args.kind}, f"{verb} {count} dead letter(s){which}"


async def run_requeue(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    async def work(redis: Redis) -> int:
        moved = await requeue_dead(redis, [args.kind] if args.kind else KINDS)
        out.result(*_moved(args, "requeued", moved))
        return EXIT_OK

    return await _with_redis(settings, out, work)


async def run_purge(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    async def work(redis: Redis) -> int:
        removed = await purge_dead(redis, [args.kind] if args.kind else [])
        out.result(*_moved(args, "purged", removed))
        return EXIT_OK

    return await _with_redis(settings, out, work)

