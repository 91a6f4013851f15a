"""The buffered sink for request and job lines: every line goes out once, in
order, in writes of whole lines of at most 4 KiB (atomic on a pipe shared by
several processes), at most `delay` after it was logged."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import threading
from collections.abc import Iterator

import orjson

from shared.config import LogSettings
from shared.logging import BufferedLineLogger, configure_logging, flush_logs, request_logger


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
    """sys.stdout replaced inside the test body (pytest swaps its own in between phases)."""
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
