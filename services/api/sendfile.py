"""Zero-copy downloads on uvloop.

uvloop has no `loop.sendfile`, so aiohttp's FileResponse falls back to reading
chunks in a thread and writing them through the transport: about 3.5x nginx's
CPU per GiB sent (performance.md). This response sends with `os.sendfile`
instead, on the plain asyncio loop as well as on uvloop:

- the transport's buffer is drained first (headers included), and nothing else
  writes to the connection meanwhile: aiohttp answers one request at a time
  per connection;
- `sendfile` runs on the loop's thread, non-blocking, as asyncio's own
  `loop.sendfile` does: a thread hop per call tripled the CPU per GiB here;
- a full socket buffer is awaited on the loop, through a dup of the socket's fd
  (uvloop refuses watchers on a transport's own fd), so a slow client costs
  nothing while it reads.

A small body (up to ONE_WRITE bytes, on any loop) is read instead and leaves
in the same write as its headers: a node killed while answering has then sent
nothing, and a load balancer retries the GET on another node.
"""

from __future__ import annotations

import asyncio
import os
from typing import IO, Any

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from .metrics import record_download

_CHUNK = 16 * 1024 * 1024  # upper bound per sendfile call; the socket buffer takes less
# Bodies up to this size are read and sent with their headers in one write (`_with_headers`).
ONE_WRITE = 64 * 1024


def _is_uvloop(loop: asyncio.AbstractEventLoop) -> bool:
    return type(loop).__module__.startswith("uvloop")


class ZeroCopyFileResponse(web.FileResponse):
    async def _sendfile(self, request: web.BaseRequest, fobj: IO[Any], offset: int, count: int
                        ) -> AbstractStreamWriter:
        if count <= ONE_WRITE:
            return await self._with_headers(request, fobj, offset, count)
        loop = asyncio.get_running_loop()
        transport = request.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        if (transport is None or sock is None or not _is_uvloop(loop) or self.compression
                or transport.get_extra_info("sslcontext") is not None):
            sent = await super()._sendfile(request, fobj, offset, count)
            record_download(count)  # aiohttp's way: sent whole, or it raised
            return sent

        writer = await web.StreamResponse.prepare(self, request)
        assert writer is not None
        writer.send_headers()
        await _drained(transport, writer)
        out_fd = os.dup(sock.fileno())
        try:
            await _pump(loop, out_fd, fobj.fileno(), offset, count)
        finally:
            os.close(out_fd)
        await web.StreamResponse.write_eof(self)
        return writer


    async def _with_headers(self, request: web.BaseRequest, fobj: IO[Any], offset: int, count: int
                            ) -> AbstractStreamWriter:
        """A small body and its headers in one write. Should the process die
        while answering (a node lost behind a load balancer), the peer has then
        received nothing and may send the request to another node; headers
        already out with no body after them leave it a failed answer it cannot
        retry (nginx has passed them on)."""
        data = await asyncio.to_thread(os.pread, fobj.fileno(), count, offset)
        if len(data) != count:  # the file shrank under us
            raise ConnectionResetError("file truncated during send")
        self._send_headers_immediately = False  # aiohttp then sends them with the first body bytes
        writer = await web.StreamResponse.prepare(self, request)
        assert writer is not None
        await writer.write(data)
        record_download(count)
        await web.StreamResponse.write_eof(self)
        return writer


async def _drained(transport: asyncio.Transport, writer: AbstractStreamWriter) -> None:
    """Wait until everything written through the transport has left it: with a
    high-water mark of 0 the transport pauses the protocol until its buffer is
    empty, which is what aiohttp's drain() waits for."""
    if not transport.get_write_buffer_size():
        return
    low, high = transport.get_write_buffer_limits()
    transport.set_write_buffer_limits(high=0, low=0)
    try:
        await writer.drain()
    finally:
        transport.set_write_buffer_limits(high=high, low=low)
    if transport.is_closing():
        raise ConnectionResetError("Connection lost")


def _sendfile_once(out_fd: int, in_fd: int, offset: int, count: int) -> int | None:
    """Bytes sent, or None when the socket buffer is full."""
    try:
        return os.sendfile(out_fd, in_fd, offset, count)
    except BlockingIOError:
        return None


async def _pump(loop: asyncio.AbstractEventLoop, out_fd: int, in_fd: int, offset: int, count: int) -> None:
    """Send until done. A short send means the socket buffer is full: wait for
    writability rather than spend a syscall on EAGAIN. The watcher stays
    registered for the whole transfer (two epoll_ctl calls, not two per wait)."""
    writable = asyncio.Event()
    loop.add_writer(out_fd, writable.set)
    try:
        while count > 0:
            chunk = min(count, _CHUNK)
            sent = _sendfile_once(out_fd, in_fd, offset, chunk)
            if sent == 0:  # the file shrank under us: the client sees a short body
                raise ConnectionResetError("file truncated during send")
            if sent is not None:
                record_download(sent)
                offset += sent
                count -= sent
            if sent is None or (sent < chunk and count > 0):
                writable.clear()
                await writable.wait()
    finally:
        loop.remove_writer(out_fd)
