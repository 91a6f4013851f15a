"""A master whose one child exercises the grace core in a real forked process.
Run by test_grace_children.py: `python -m tests.supervisor.grace_children MODE`.

    escape    a background task of the child dies: error hooks, exit 1, replaced
    shutdown  the child calls grace.shutdown(0) itself: replaced, not a crash
    contain   one "job" fails inside grace.contain(): logged, the child goes on
"""

from __future__ import annotations

import asyncio
import sys

from shared.config import load_settings
from shared.grace import Grace
from shared.logging import configure_logging
from shared.supervision.child import ChildContext, run_child
from shared.supervision.master import Kind, Master
from supervisor import one_write_per_line


def target(mode: str):
    async def setup(grace: Grace, ctx: ChildContext) -> None:
        if mode == "escape" and ctx.generation == 1:
            async def dies() -> None:
                await asyncio.sleep(0.2)
                raise RuntimeError("background task died")

            grace.spawn(dies(), name="poller")
        elif mode == "shutdown":
            asyncio.get_running_loop().call_later(0.2, grace.shutdown, 0)
        elif mode == "contain":
            for job in ("j1", "j2", "j3"):
                with grace.contain(where="job", job=job):
                    if job == "j2":
                        raise ValueError("one bad job")

    return lambda ctx: run_child(ctx, setup)


def main() -> int:
    one_write_per_line()  # as supervisor.py: a master.ready torn by a child's line is never seen
    mode = sys.argv[1]
    settings = load_settings()
    configure_logging(settings.log, role="master")
    master = Master(settings, [Kind("job", target(mode), lambda s: 1)], None,
                    reload_settings=load_settings)
    with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
        return runner.run(master.run())


if __name__ == "__main__":
    sys.exit(main())
