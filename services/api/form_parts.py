"""aiohttp's multipart reader with a part reader that copies less.

aiohttp's own part reader looks for the closing delimiter by copying every
chunk into a window with the previous one (and its stream joins what it
buffered): most of the memmove an upload costs (bench/README.md). This one
reads what the stream holds as it is, searches it where it lies, and hands
it on untouched; bytes are copied only when a chunk ends with what may be
the start of the delimiter (a CR followed by a prefix of it: about one chunk
in 256 of random content) and once at the end of each part.

Only how a part's bytes are read changes: headers, names, filenames and the
multipart state machine stay aiohttp's (MultipartReader, with this class as
its `part_reader_cls`). A part is read as sent: a form part has no
Content-Length (RFC 7578 4.8) and no transfer encoding is applied (upload_form.py
refuses one on a file part). It uses BodyPartReader's private state
(`_at_eof`, `_boundary`, `_content`), which is why aiohttp stays capped at the
tested minor (pyproject.toml); tests/api/test_form_parts.py checks it against
aiohttp's own reader on arbitrary bodies cut at arbitrary places.
"""

from __future__ import annotations

import warnings
from typing import Any

from aiohttp import BodyPartReader, MultipartReader

_CR = b"\r"


class FilePartReader(BodyPartReader):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._delimiter = b"\r\n" + self._boundary
        # Bytes read and not handed out: they may begin the delimiter. A part
        # starts with the line break its headers' parsing took (so that an
        # empty part's delimiter is found at once), which is not content.
        self._held = b"\r\n"
        self._skip = 2

    async def read_chunk(self, size: int = BodyPartReader.chunk_size) -> bytes:
        """The part's next bytes (what the stream holds, whatever `size`), b"" at its end."""
        while not self._at_eof:
            data = await self._content.readany()
            if not data:
                raise ValueError("the body ends inside a part")
            chunk = self._take(self._held + data if self._held else data)
            if self._at_eof and await self._content.readline() != b"\r\n":  # as aiohttp's reader checks
                raise ValueError("Reader did not read all the data or it is malformed")
            if chunk:
                return chunk
        return b""

    def _take(self, window: bytes) -> bytes:
        """The content in `window` (what was held, then what just came), less
        what may begin the delimiter; at the delimiter, the part ends."""
        delimiter, skip = self._delimiter, self._skip
        at = window.find(delimiter)
        if at != -1:
            self._unread_data(window[at:])
            self._at_eof = True
            return window[skip:at] if at > skip else b""
        # The delimiter holds one CR, at its start: only the last CR of the
        # window's tail can begin it, if what follows is a prefix of it.
        cr = window.rfind(_CR, max(0, len(window) - len(delimiter) + 1))
        if cr != -1 and delimiter.startswith(window[cr:]):
            self._held, self._skip = window[cr:], max(0, skip - cr)
            return window[skip:cr] if cr > skip else b""
        self._held, self._skip = b"", 0
        return window[skip:] if skip else window

    def _unread_data(self, data: bytes) -> None:
        with warnings.catch_warnings():  # deprecated for applications; the multipart reader relies on it
            warnings.simplefilter("ignore", DeprecationWarning)
            self._content.unread_data(data)


class FormReader(MultipartReader):
    """aiohttp's multipart reader, reading each part with FilePartReader."""

    part_reader_cls = FilePartReader
