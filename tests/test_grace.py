"""The graceful-application core on its own: hook order, timeout callback, exit codes."""

from __future__ import annotations

import asyncio
import threading

from shared.grace import Grace


def recorder(app: Grace) -> list:
    events: list = []
    app.on_start(lambda: events.append("start"))

    async def shutdown(left: float) -> None:
        events.append(("shutdown", left))

    app.on_shutdown(shutdown)
    app.on_error(lambda exc, ctx: events.append(("error", type(exc).__name__, ctx.get("fatal"))))
    app.on_exit(lambda code: events.append(("exit", code)))
    return events


async def test_hooks_run_in_order_and_clean_exit_is_0():
    app = Grace(timeout=5)
    events = recorder(app)
    app.on_start(lambda: app.shutdown())
    code = await app.run()
    assert code == 0
    assert [e if isinstance(e, str) else e[0] for e in events] == ["start", "shutdown", "exit"]
    assert 0 < events[1][1] <= 5  # the shutdown hook gets the time left
    assert events[-1] == ("exit", 0)


async def test_async_start_hooks_and_shutdown_code_from_anywhere():
    app = Grace(timeout=5)
    events = recorder(app)

    async def later() -> None:
        await asyncio.sleep(0)
        threading.Thread(target=app.shutdown, args=(7,)).start()  # from another thread

    app.on_start(later)
    assert await app.run() == 7
    assert events[-1] == ("exit", 7)


async def test_shutdown_hooks_in_registration_order_with_time_left():
    app = Grace(timeout=2)
    order: list[str] = []

    async def first(left: float) -> None:
        order.append("first")
        await asyncio.sleep(0.05)

    async def second(left: float) -> None:
        order.append(f"second<{left < 2}")

    app.on_shutdown(first)
    app.on_shutdown(second)
    app.shutdown()  # before run(): run() goes straight to the shutdown
    assert await app.run() == 0
    assert order == ["first", "second<True"]


async def test_timeout_forces_exit_1_and_runs_the_callback():
    fired: list[str] = []
    app = Grace(timeout=0.1, on_timeout=lambda: fired.append("timeout"))
    events = recorder(app)
    cancelled = asyncio.Event()

    async def stuck(left: float) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    app.on_shutdown(stuck)
    app.on_start(app.shutdown)
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert await app.run() == 1
    assert 0.1 <= loop.time() - began < 2
    assert fired == ["timeout"]
    assert cancelled.is_set()
    assert events[-1] == ("exit", 1)


async def test_timeout_method_sets_seconds_and_callback():
    fired: list[str] = []
    app = Grace()
    app.timeout(0.05, lambda: fired.append("cb"))

    async def stuck(left: float) -> None:
        await asyncio.sleep(10)

    app.on_shutdown(stuck)
    app.on_start(lambda: app.shutdown(0))
    assert await app.run() == 1
    assert fired == ["cb"]


async def test_force_stops_waiting_at_once():
    fired: list[str] = []
    app = Grace(timeout=30, on_timeout=lambda: fired.append("forced"))

    async def slow(left: float) -> None:
        await asyncio.sleep(30)

    app.on_shutdown(slow)

    async def start() -> None:
        app.shutdown(0)
        asyncio.get_running_loop().call_later(0.05, app.force)

    app.on_start(start)
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert await app.run() == 1
    assert loop.time() - began < 2
    assert fired == ["forced"]


async def test_error_in_shutdown_hook_goes_to_error_hooks_and_exit_1():
    app = Grace(timeout=5)
    events = recorder(app)

    async def broken(left: float) -> None:
        raise RuntimeError("flush failed")

    app.on_shutdown(broken)
    app.on_start(app.shutdown)
    assert await app.run() == 1
    assert ("error", "RuntimeError", True) in events
    # the hooks registered after the broken one still ran
    assert [e[0] for e in events if isinstance(e, tuple)][-1] == "exit"
    assert events[-1] == ("exit", 1)


async def test_contained_error_keeps_the_process_going():
    app = Grace(timeout=5)
    events = recorder(app)

    async def start() -> None:
        for n in range(3):
            with app.contain(where="request", n=n):
                if n == 1:
                    raise ValueError("one bad request")
        events.append("still serving")
        app.shutdown(0)

    app.on_start(start)
    assert await app.run() == 0
    assert events.count(("error", "ValueError", False)) == 1
    assert "still serving" in events


async def test_a_dying_background_task_is_fatal_exit_1():
    app = Grace(timeout=5)
    events = recorder(app)

    async def background() -> None:
        await asyncio.sleep(0.01)
        raise KeyError("state gone bad")

    app.on_start(lambda: app.spawn(background(), name="poller"))
    assert await app.run() == 1
    assert ("error", "KeyError", True) in events
    assert events[-1] == ("exit", 1)


async def test_unhandled_loop_error_is_fatal():
    app = Grace(timeout=5)
    events = recorder(app)

    def boom() -> None:
        raise LookupError("in a callback")

    app.on_start(lambda: asyncio.get_running_loop().call_soon(boom))
    assert await app.run() == 1
    assert ("error", "LookupError", True) in events


async def test_error_in_start_hook_shuts_down_with_1_and_runs_shutdown_hooks():
    app = Grace(timeout=5)
    events = recorder(app)

    def bad_start() -> None:
        raise OSError("cannot open")

    app.on_start(bad_start)
    assert await app.run() == 1
    assert ("error", "OSError", True) in events
    assert any(isinstance(e, tuple) and e[0] == "shutdown" for e in events)


async def test_first_code_wins_but_a_failure_raises_it():
    app = Grace(timeout=5)

    async def start() -> None:
        app.shutdown(0)
        app.shutdown(0)
        app.fail(RuntimeError("late"), where="test")

    app.on_start(start)
    assert await app.run() == 1

    app2 = Grace(timeout=5)
    app2.on_start(lambda: (app2.shutdown(4), app2.shutdown(0)))
    assert await app2.run() == 4
