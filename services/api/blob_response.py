"""Content from a blob store that is not this machine's folder (an S3 bucket):
streamed, with what aiohttp's FileResponse does for a file (serving.py) done
the same way here, so a client sees no difference:

- If-Match / If-Unmodified-Since: 412 when they fail;
- If-None-Match / If-Modified-Since: 304 on a match (ETag and Last-Modified);
- one byte Range (honoured unless If-Range says the content changed): 206
  with Content-Range, 416 with `bytes */size` when it cannot be satisfied;
  only the asked bytes are fetched (the Range is passed to the store).

Or, with `blobs.redirect_downloads`, `redirect_response`: a 302 to a
presigned URL whose response overrides carry the safe-serving headers the
store can send (type, disposition, caching).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from aiohttp import ETag, hdrs, web
from aiohttp.abc import AbstractStreamWriter

from shared.blob_store import BlobInfo, BlobStore

from .metrics import record_download

# Of the safe-serving headers, those worth keeping on the redirect itself.
_REDIRECT_KEEPS = ("X-Content-Type-Options", "Content-Security-Policy", "Referrer-Policy")


def redirect_response(url: str, headers: Mapping[str, str]) -> web.Response:
    """302 to a presigned URL: never cached (the URL expires), never sniffed."""
    kept = {name: headers[name] for name in _REDIRECT_KEEPS if name in headers}
    return web.Response(status=302, headers={**kept, "Location": url, "Cache-Control": "private, no-store"})


def _matches(etag: str, etags: tuple[ETag, ...], *, weak: bool) -> bool:
    if len(etags) == 1 and etags[0].value == "*":
        return True
    return any(tag.value == etag for tag in etags if weak or not tag.is_weak)


class BlobResponse(web.StreamResponse):
    """`chunks`: the whole blob, opened already with `info` (BlobStore.open),
    for a GET that asks no condition and no range; else the bytes are fetched
    once the answer is decided."""

    def __init__(self, blobs: BlobStore, location: str, info: BlobInfo, headers: Mapping[str, str],
                 chunks: AsyncIterator[bytes] | None = None) -> None:
        super().__init__(headers=headers)
        self._blobs = blobs
        self._location = location
        self._info = info
        self._opened = chunks

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        try:
            return await self._prepare(request)
        finally:
            await self.discard()  # read to its end, or not needed: its connection freed

    async def discard(self) -> None:
        """Not to be sent after all: what it opened of the store is freed."""
        if self._opened is not None:
            await self._opened.aclose()  # type: ignore[attr-defined]
            self._opened = None

    async def _prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        if self.prepared:
            return await super().prepare(request)
        info = self._info
        if ((if_match := request.if_match) is not None and not _matches(info.etag, if_match, weak=False)) or (
                (since := request.if_unmodified_since) is not None and if_match is None
                and info.modified > since.timestamp()):
            self.set_status(412)
            self.content_length = 0
            return await super().prepare(request)
        if ((if_none := request.if_none_match) is not None and _matches(info.etag, if_none, weak=True)) or (
                (modified := request.if_modified_since) is not None and if_none is None
                and info.modified <= modified.timestamp()):
            self.set_status(304)
            self.etag, self.last_modified = info.etag, info.modified
            return await super().prepare(request)

        size, start, count = info.size, 0, info.size
        if (if_range := request.if_range) is None or info.modified <= if_range.timestamp():
            try:
                asked = request.http_range
            except ValueError:
                return await self._unsatisfiable(request)
            if asked.start is not None:
                if asked.start < 0 and asked.stop is None:  # the last bytes
                    start = max(0, size + asked.start)
                    count = size - start
                else:
                    start = asked.start
                    count = min(asked.stop if asked.stop is not None else size, size) - start
                if start >= size:
                    return await self._unsatisfiable(request)
                self.set_status(206)
                self.headers[hdrs.CONTENT_RANGE] = f"bytes {start}-{start + count - 1}/{size}"

        self.etag, self.last_modified = info.etag, info.modified
        self.content_length = count
        self.headers[hdrs.ACCEPT_RANGES] = "bytes"
        if count == 0 or request.method == hdrs.METH_HEAD:
            return await super().prepare(request)
        # The first bytes before the headers: a blob gone meanwhile is still a 404.
        opened = self._opened is not None and start == 0 and count == size
        chunks = self._opened if opened else aiter(self._blobs.read(self._location, start, start + count))
        assert chunks is not None
        first = await anext(chunks)
        writer = await super().prepare(request)
        try:
            await self.write(first)
            record_download(len(first))
            async for chunk in chunks:
                await self.write(chunk)
                record_download(len(chunk))
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]
        return writer

    async def _unsatisfiable(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        self.headers[hdrs.CONTENT_RANGE] = f"bytes */{self._info.size}"
        self.set_status(416)
        self.content_length = 0
        return await super().prepare(request)
