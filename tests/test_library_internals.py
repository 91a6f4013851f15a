"""Where the code leans on a library's or CPython's internals, these tests
notice when a new version changes them, and say what to check. The versions
are pinned in pyproject.toml (aiohttp's upper bound) for the same reason.

- services/api/sendfile.py overrides aiohttp's private `FileResponse._sendfile`
  (aiohttp has no public hook for how a file is sent) to send with os.sendfile
  on uvloop, which has no `loop.sendfile`.
- shared/supervision/children.py forks inside the master's running loop and
  relies on CPython forgetting that running loop in the child.
- services/api/serve.py reads aiohttp's `Server.requests_count` (undocumented,
  read the same way by aiohttp's own gunicorn worker) for `server.max_requests`.
- shared/enqueuer.py pipelines on a connection of redis-py's pool
  (`send_packed_command`, `read_response`) and hands it back after a failed or
  cancelled read, trusting `read_response` to have disconnected it: a
  connection with replies still unread must never serve another command.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import os
import sys

import aiohttp
import pytest
import uvloop
from aiohttp import web
from aiohttp.http_writer import StreamWriter

from tests.api.test_zero_copy import serve_and

SENDFILE_HINT = ("aiohttp changed FileResponse._sendfile, which services/api/sendfile.py overrides: read the "
                 "new aiohttp's web_fileresponse.py, adapt ZeroCopyFileResponse, then widen the pin in pyproject.toml")


def test_file_response_still_sends_through_the_method_we_override() -> None:
    method = getattr(web.FileResponse, "_sendfile", None)
    assert method is not None and inspect.iscoroutinefunction(method), SENDFILE_HINT
    assert list(inspect.signature(method).parameters) == ["self", "request", "fobj", "offset", "count"], SENDFILE_HINT
    assert inspect.iscoroutinefunction(getattr(web.FileResponse, "_sendfile_fallback", None)), SENDFILE_HINT
    assert callable(getattr(StreamWriter, "send_headers", None)), SENDFILE_HINT  # sent before the first sendfile


def test_a_download_on_uvloop_is_sent_by_os_sendfile_not_by_aiohttps_fallback(tmp_path, monkeypatch) -> None:
    content = os.urandom(6 * 1024 * 1024 + 7)
    path = tmp_path / "big.bin"
    path.write_bytes(content)
    fallbacks = {"count": 0}
    real_fallback = web.FileResponse._sendfile_fallback

    async def counting_fallback(self, *args):
        fallbacks["count"] += 1
        return await real_fallback(self, *args)

    monkeypatch.setattr(web.FileResponse, "_sendfile_fallback", counting_fallback)

    async def scenario(url: str) -> tuple[str, bytes]:
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as resp:
                whole = hashlib.sha256(await resp.read()).hexdigest()
            async with session.get(url, headers={"Range": "bytes=10-19"}) as resp:
                part = await resp.read()
        return whole, part

    (whole, part), by_sendfile = serve_and(str(path), scenario)
    assert whole == hashlib.sha256(content).hexdigest() and part == content[10:20]
    assert fallbacks["count"] == 0, "aiohttp's chunked fallback sent the file: " + SENDFILE_HINT
    assert by_sendfile == len(content) + 10, "the download did not go through os.sendfile: " + SENDFILE_HINT


FORK_HINT = ("a forked child still sees the master's running loop: CPython no longer forgets it at fork; "
             "shared/supervision/children.py must reset it in the child before the child's own loop starts")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
def test_a_child_forked_inside_a_running_loop_can_run_its_own() -> None:
    async def in_master() -> bytes:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: what fork_child's target does, reported through the pipe
            report = b"ok"
            try:
                try:
                    asyncio.get_running_loop()
                    report = b"running loop inherited"
                except RuntimeError:
                    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                        if runner.run(asyncio.sleep(0, result=42)) != 42:
                            report = b"the child's loop did not run"
            except BaseException as exc:  # noqa: BLE001 - reported to the parent, whatever it is
                report = repr(exc).encode()
            finally:
                os.write(write_fd, report)
                os._exit(0)
        os.close(write_fd)
        try:
            report = await asyncio.get_running_loop().run_in_executor(None, os.read, read_fd, 4096)
        finally:
            os.close(read_fd)
            os.waitpid(pid, 0)
        return report

    with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:  # as supervisor.py runs the master
        assert runner.run(in_master()) == b"ok", f"{FORK_HINT} (Python {sys.version.split()[0]})"


COUNT_HINT = ("aiohttp's Server.requests_count no longer counts each request: services/api/serve.py reads it "
              "for server.max_requests (shared/supervision/recycle.py); count the requests another way")


async def test_the_runners_server_counts_every_request(aiohttp_client) -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", hello)
    client = await aiohttp_client(app)
    server = client.server.runner.server
    before = server.requests_count
    for _ in range(3):
        async with client.get("/") as resp:
            assert resp.status == 200
    async with client.get("/nowhere") as resp:
        assert resp.status == 404
    assert server.requests_count - before == 4, COUNT_HINT


MULTIPROCESS_HINT = ("prometheus_client changed its multiprocess files, which shared/metrics writes itself "
                     "(store.py folds a dead child's figures into <type>_archive.db, recorder.py writes the "
                     "children's counters and histograms, both with mmap_dict.MmapedDict): read the new "
                     "prometheus_client's values.py, metrics.py, mmap_dict.py and multiprocess.py, adapt them, "
                     "then widen the pin in pyproject.toml")


def _figures(directory, *args: str) -> int:
    import subprocess

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    return int(subprocess.run([sys.executable, "-m", "tests.metrics.processes_with_figures", *args], env=env,
                              check=True, capture_output=True, text=True).stdout)


def test_the_multiprocess_files_are_what_the_metrics_archive_writes(tmp_path) -> None:
    """A process's files are `<type>_<pid>.db` (gauges `gauge_<mode>_<pid>.db`), MmapedDict reads
    (key, value, timestamp, position) from them and writes an archive the collector sums with them."""
    from prometheus_client.mmap_dict import MmapedDict
    from prometheus_client.multiprocess import MultiProcessCollector

    pid = _figures(tmp_path, "3")
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == [f"counter_{pid}.db", f"gauge_liveall_{pid}.db", f"histogram_{pid}.db"], MULTIPROCESS_HINT
    entries = list(MmapedDict.read_all_values_from_file(str(tmp_path / f"counter_{pid}.db")))
    assert [len(entry) for entry in entries] == [4], MULTIPROCESS_HINT
    key, count, _timestamp, _position = entries[0]
    assert count == 3.0, MULTIPROCESS_HINT

    archive = MmapedDict(str(tmp_path / "counter_archive.db"))
    total, _ = archive.read_value(key)
    archive.write_value(key, total + 4.0, 0.0)
    archive.close()
    samples = {sample.name: sample.value for family in MultiProcessCollector(None, str(tmp_path)).collect()
               for sample in family.samples if family.name == "test_requests"}
    assert samples == {"test_requests_total": 7.0}, MULTIPROCESS_HINT


def test_the_recorder_writes_what_prometheus_client_s_own_metrics_write(tmp_path) -> None:
    """shared/metrics/recorder.py's counters and histograms are, entry for entry, prometheus_client's."""
    from prometheus_client.mmap_dict import MmapedDict

    theirs, ours = tmp_path / "prometheus_client", tmp_path / "recorder"
    theirs.mkdir()
    ours.mkdir()
    their_pid, our_pid = _figures(theirs, "5"), _figures(ours, "5", "recorder")
    for kind in ("counter", "histogram"):
        entries = [{key: value for key, value, _, _ in MmapedDict.read_all_values_from_file(str(path))}
                   for path in (theirs / f"{kind}_{their_pid}.db", ours / f"{kind}_{our_pid}.db")]
        assert entries[0] == entries[1], MULTIPROCESS_HINT


ENQUEUER_HINT = ("redis-py no longer disconnects a connection whose read failed or was cancelled: "
                 "shared/enqueuer.py must disconnect it itself before releasing it to the pool")


async def test_a_connection_whose_read_was_cancelled_is_disconnected(redis_url) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        conn = await client.connection_pool.get_connection()
        await conn.send_packed_command(conn.pack_command("BLPOP", "nothing-here", "5"))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(conn.read_response(), 0.05)  # its reply still to come
        assert not conn.is_connected, ENQUEUER_HINT
        await client.connection_pool.release(conn)
        assert await client.ping()  # the pool goes on, on a fresh connection
    finally:
        await client.aclose()
