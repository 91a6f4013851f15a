"""Downloads on uvloop go through os.sendfile (ZeroCopyFileResponse): the
bytes, ranges and many concurrent clients must come out exactly right."""

from __future__ import annotations

import asyncio
import hashlib
import os

import aiohttp
import uvloop
from aiohttp import web

from services.api.sendfile import ONE_WRITE, ZeroCopyFileResponse
from tests.conftest import free_port


def serve_and(path: str, scenario):
    """Run `scenario(base_url)` against a real server on uvloop serving `path`;
    returns its result and how many bytes the server sent with os.sendfile
    (the kernel's call, watched; nothing of ours is replaced)."""
    sent = {"bytes": 0}
    real_sendfile = os.sendfile

    def watched_sendfile(out_fd, in_fd, offset, count):
        done = real_sendfile(out_fd, in_fd, offset, count)
        sent["bytes"] += done
        return done

    async def handler(request: web.Request) -> web.StreamResponse:
        return ZeroCopyFileResponse(path, headers={"Content-Type": "application/octet-stream"})

    async def main():
        app = web.Application()
        app.router.add_get("/f", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")
            return await scenario(f"http://127.0.0.1:{port}/f")
        finally:
            await runner.cleanup()

    os.sendfile = watched_sendfile
    try:
        return uvloop.run(main()), sent["bytes"]
    finally:
        os.sendfile = real_sendfile


def test_large_file_byte_for_byte_with_ranges_and_concurrent_clients(tmp_path):
    content = os.urandom(24 * 1024 * 1024 + 123)
    path = tmp_path / "big.bin"
    path.write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()

    async def scenario(url):
        async with aiohttp.ClientSession() as session:
            async def whole():
                async with session.get(url) as resp:
                    assert resp.status == 200
                    return hashlib.sha256(await resp.read()).hexdigest()

            async def part(start, end):
                async with session.get(url, headers={"Range": f"bytes={start}-{end}"}) as resp:
                    assert resp.status == 206
                    return await resp.read()

            digests = await asyncio.gather(*(whole() for _ in range(6)))
            middle = await part(1000, 5_000_999)
            tail = await part(len(content) - 10, len(content) - 1)
            return digests, middle, tail

    (digests, middle, tail), by_sendfile = serve_and(str(path), scenario)
    assert digests == [digest] * 6
    assert middle == content[1000:5_001_000]
    assert tail == content[-10:]
    # Every body byte went by sendfile but the 10-byte tail's, sent with its headers (one write).
    assert by_sendfile == 6 * len(content) + 5_000_000


def test_slow_reader_gets_everything(tmp_path):
    """A client reading slowly fills the socket buffer: the pump waits for
    writability and resumes, without losing or repeating a byte."""
    content = os.urandom(8 * 1024 * 1024)
    path = tmp_path / "slow.bin"
    path.write_bytes(content)

    async def scenario(url):
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            received = bytearray()
            async for chunk in resp.content.iter_chunked(256 * 1024):
                received += chunk
                await asyncio.sleep(0)  # yield so the server sees a full buffer now and then
            return bytes(received)

    received, _ = serve_and(str(path), scenario)
    assert received == content


def test_a_small_body_goes_with_its_headers_and_a_larger_one_by_sendfile(tmp_path):
    """Up to ONE_WRITE bytes are read and written with the headers (a process
    dying mid-answer leaves a load balancer nothing, so it can retry); one byte
    more goes by sendfile."""
    small, larger = os.urandom(ONE_WRITE), os.urandom(ONE_WRITE + 1)
    for content, by_sendfile in ((small, 0), (larger, len(larger))):
        path = tmp_path / "file.bin"
        path.write_bytes(content)

        async def scenario(url):
            async with aiohttp.ClientSession() as session:
                async with session.get(url) as resp:
                    whole = (resp.status, resp.headers["Content-Length"], await resp.read())
                async with session.get(url, headers={"Range": "bytes=5-9"}) as resp:
                    part = (resp.status, await resp.read())
            return whole, part

        (whole, part), sent = serve_and(str(path), scenario)
        assert whole == (200, str(len(content)), content)
        assert part == (206, content[5:10])
        assert sent == by_sendfile
