"""The buffered sink for request and job lines: every line goes out once, in
order, in writes of whole lines of at most 4 KiB (atomic on a pipe shared by
several processes), at most `delay` after it was logged. Repeated warnings (a
backend outage) folded into one line per interval, with a count."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import threading
from base64 import b64encode
from collections.abc import Iterator

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from services.api.app import create_app
from services.api.edge import RUNNER_OPTIONS
from shared.config import LogSettings
from shared.log_throttle import LogThrottle
from shared.logging import BufferedLineLogger, configure_logging, flush_logs, request_logger
from tests.conftest import private_redis


class RecordingStdout(io.TextIOWrapper):
    """A text stdout over a binary buffer that records each write(2)-sized chunk."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        outer = self

        class Raw(io.RawIOBase):
            def writable(self) -> bool:
                return True

            def write(self, data) -> int:
                outer.writes.append(bytes(data))
                return len(data)

        super().__init__(io.BufferedWriter(Raw(), buffer_size=1), encoding="utf-8", write_through=True)


@contextlib.contextmanager
def recording() -> Iterator[RecordingStdout]:
    """sys.stdout replaced inside the test body (pytest swaps its own in between phases).
    What earlier tests left held (a folded warning, buffered lines) goes out first, elsewhere."""
    flush_logs()
    out = RecordingStdout()
    with contextlib.redirect_stdout(out):
        yield out


def assert_whole_lines(writes: list[bytes], expected: list[bytes]) -> None:
    for chunk in writes:
        assert chunk.endswith(b"\n")
    assert b"".join(writes).splitlines(keepends=True) == expected


async def test_lines_wait_for_the_delay_then_go_out_in_whole_line_chunks() -> None:
    with recording() as stdout:
        sink = BufferedLineLogger(delay=0.05)
        lines = [b"%d %s\n" % (i, b"x" * (i % 300)) for i in range(200)]
        for line in lines:
            sink.add(line)
        assert stdout.writes == []  # held
        deadline = asyncio.get_running_loop().time() + 5
        while not stdout.writes and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)  # the delay elapsing is the event
        assert_whole_lines(stdout.writes, lines)
        assert len(stdout.writes) > 1
        assert all(len(chunk) <= BufferedLineLogger.CHUNK for chunk in stdout.writes)


async def test_a_line_longer_than_a_chunk_goes_out_whole() -> None:
    with recording() as stdout:
        sink = BufferedLineLogger(delay=10)
        lines = [b"short\n", b"y" * 10_000 + b"\n", b"after\n"]
        for line in lines:
            sink.add(line)
        sink.flush()
        assert_whole_lines(stdout.writes, lines)
        assert max(len(chunk) for chunk in stdout.writes) > BufferedLineLogger.CHUNK


async def test_a_large_backlog_is_written_without_waiting() -> None:
    with recording() as stdout:
        sink = BufferedLineLogger(delay=60)
        line = b"z" * 999 + b"\n"
        for _ in range(BufferedLineLogger.HOLD // len(line) + 1):
            sink.add(line)
        assert stdout.writes, "past HOLD bytes the lines must not wait for the delay"
        sink.flush()


def test_lines_from_threads_are_each_written_once() -> None:
    with recording() as stdout:
        sink = BufferedLineLogger(delay=0)  # no loop in these threads: lines go out at once

        def log(tag: int) -> None:
            for i in range(500):
                sink.add(b"%d-%d\n" % (tag, i))

        threads = [threading.Thread(target=log, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        sink.flush()
        written = b"".join(stdout.writes).splitlines()
        assert sorted(written) == sorted(b"%d-%d" % (t, i) for t in range(4) for i in range(500))
        for t in range(4):  # each thread's lines in its order
            mine = [w for w in written if w.startswith(b"%d-" % t)]
            assert mine == [b"%d-%d" % (t, i) for i in range(500)]


async def test_a_request_line_has_structlogs_shape() -> None:
    with recording() as stdout:
        configure_logging(LogSettings(level="info", format="json"), role="api", worker=3)
        request_logger("api.access").info("request", method="GET", path="/files/x\"y", status=200,
                                          duration_ms=0.5, request_id="r1")
        flush_logs()
        (line,) = b"".join(stdout.writes).splitlines()
        record = orjson.loads(line)
        assert list(record) == ["method", "path", "status", "duration_ms", "request_id", "role", "worker",
                                "event", "level", "timestamp"]
        assert record["path"] == '/files/x"y'
        assert (record["role"], record["worker"], record["event"], record["level"]) == ("api", 3, "request", "info")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z", record["timestamp"])


class Recorder:
    """A logger that keeps what it is given."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict]] = []

    def warning(self, event: str, **fields) -> None:
        self.lines.append(("warning", event, fields))

    def error(self, event: str, **fields) -> None:
        self.lines.append(("error", event, fields))


def test_a_throttle_writes_the_first_at_once_then_one_line_per_interval_with_the_count() -> None:
    now = [100.0]
    out = Recorder()
    throttle = LogThrottle(out, interval=10, clock=lambda: now[0])
    for i in range(500):
        throttle.warning("backend.unavailable", kind="ConnectionError", n=i)
    assert out.lines == [("warning", "backend.unavailable", {"n": 0, "kind": "ConnectionError", "count": 1})]
    throttle.warning("backend.unavailable", kind="TimeoutError", n=0)  # another kind: its own line
    assert len(out.lines) == 2
    now[0] += 10  # outside a loop the folded line goes out with the next occurrence after the interval
    throttle.warning("backend.unavailable", kind="ConnectionError", n=500)
    assert out.lines[2] == ("warning", "backend.unavailable",
                            {"n": 499, "kind": "ConnectionError", "interval_s": 10, "count": 499})
    throttle.flush()  # at exit: what is held goes out
    assert out.lines[3][2]["count"] == 1 and out.lines[3][2]["n"] == 500
    assert sum(fields["count"] for _, _, fields in out.lines if fields["kind"] == "ConnectionError") == 501
    now[0] += 100
    throttle.warning("backend.unavailable", kind="ConnectionError", n=501)  # quiet since: at once again
    assert out.lines[-1][2] == {"n": 501, "kind": "ConnectionError", "count": 1}
    throttle.flush()
    assert len(out.lines) == 5


async def test_inside_a_loop_the_folded_line_goes_out_when_the_interval_is_up() -> None:
    out = Recorder()
    throttle = LogThrottle(out, interval=0.05)
    for _ in range(10):
        throttle.error("worker.redis_error", kind="ConnectionError")
    assert len(out.lines) == 1
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while len(out.lines) < 2 and loop.time() < deadline:
        await asyncio.sleep(0.01)  # the interval elapsing is the event
    assert out.lines[1] == ("error", "worker.redis_error", {"kind": "ConnectionError", "interval_s": 0.05,
                                                            "count": 9})
    throttle.flush()
    assert len(out.lines) == 2  # nothing was held any more


async def test_a_redis_outage_is_a_handful_of_warning_lines_with_counts(settings, aiohttp_server, aiohttp_client,
                                                                       tmp_path, capsys) -> None:
    with private_redis(tmp_path) as (url, proc):
        app = create_app(settings.replace(redis={"url": url}))
        client = await aiohttp_client(await aiohttp_server(app, **RUNNER_OPTIONS))
        assert (await client.post("/users", json={"email": "o@example.com", "password": "pw"})).status == 201
        basic = "Basic " + b64encode(b"o@example.com:pw").decode()
        resp = await client.get("/connect", headers={"Authorization": basic})
        token = (await resp.json())["token"]
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)
        capsys.readouterr()
        statuses = []
        for _ in range(200):
            async with client.get("/users/me", headers={"X-Token": token}) as resp:
                statuses.append(resp.status)
        assert statuses == [503] * 200
        await client.close()  # the app's cleanup writes what the throttle still holds
    records = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    warnings = [r for r in records if r["level"] in ("warning", "error")]
    outage = [r for r in warnings if r["event"] == "backend.unavailable"]
    assert 1 <= len(outage) <= 4, outage
    assert sum(r["count"] for r in outage) == 200
    assert outage[0]["count"] == 1 and outage[0]["route"] == "/users/me"
    assert len(warnings) <= 8, [r["event"] for r in warnings]
    assert sum(1 for r in records if r["event"] == "request" and r["status"] == 503) == 200


_FIELD_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40),
                          st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30))
_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z")


@settings(max_examples=300, deadline=None, derandomize=True)
@given(bound=st.dictionaries(st.text(min_size=1, max_size=8), _FIELD_VALUES, max_size=3),
       fields=st.dictionaries(st.text(min_size=1, max_size=8), _FIELD_VALUES, max_size=6),
       event=st.text(min_size=1, max_size=12))
def test_a_line_is_the_merged_dict_structlog_would_render(bound, fields, event) -> None:
    """The rendered end of a line (context, event, level) and the timestamp made
    once a second give exactly the JSON of the whole merged dict, key order
    included, whatever the fields (colliding ones too)."""
    with recording() as stdout:
        configure_logging(LogSettings(level="info", format="json"), cache=False, buffered=False,
                          role="api", worker=7)
        request_logger("test").bind(**bound).info(event, **fields)
    (line,) = b"".join(stdout.writes).splitlines()
    got = orjson.loads(line)
    stamp = got.pop("timestamp")
    assert _STAMP.fullmatch(stamp)
    expected = {**bound, **fields, "role": "api", "worker": 7, "event": event, "level": "info"}
    assert list(got.items()) == list(expected.items())
