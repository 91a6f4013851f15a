"""Finding the end of a JSON string, and safe places to cut one, in a buffer
that holds only part of it (bytes.find and slicing: no loop per byte)."""

from __future__ import annotations

import re

Buffer = bytes | bytearray

_BACKSLASH = 0x5C
_HIGH_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}")


def string_end(buf: Buffer, pos: int) -> int:
    """Index of the quote closing the string whose content starts at `pos`
    (the buffer holds no partial escape before `pos`), or -1."""
    while True:
        quote = buf.find(b'"', pos)
        if quote < 0:
            return -1
        k = quote - 1
        while k >= 0 and buf[k] == _BACKSLASH:
            k -= 1
        if (quote - 1 - k) % 2 == 0:
            return quote
        pos = quote + 1


def _odd_backslashes_before(buf: Buffer, pos: int, lo: int) -> bool:
    k = pos - 1
    while k >= lo and buf[k] == _BACKSLASH:
        k -= 1
    return (pos - 1 - k) % 2 == 1


def safe_cut(buf: Buffer, lo: int, end: int) -> int:
    """The largest position <= `end` where the string content from `lo` can be
    cut: not inside an escape, a UTF-8 sequence or a surrogate pair."""
    window = max(lo, end - 12)
    tail = buf[window:end]
    if b"\\" not in tail and tail.isascii():
        return end
    for cut in range(end, window - 1, -1):
        if cut < end and 0x80 <= buf[cut] < 0xC0:
            continue  # inside a UTF-8 sequence
        if cut == end and end > lo and buf[end - 1] >= 0x80:
            # the last bytes may be an incomplete sequence: cut before its lead byte
            continue
        if _odd_backslashes_before(buf, cut, lo):
            continue  # right after an escape's backslash
        start = buf.rfind(b"\\u", max(lo, cut - 5), cut)
        if start >= 0 and start + 6 > cut and not _odd_backslashes_before(buf, start, lo):
            continue  # inside \uXXXX
        if cut - 6 >= lo and _HIGH_SURROGATE_ESCAPE.fullmatch(buf, cut - 6, cut) \
                and not _odd_backslashes_before(buf, cut - 6, lo):
            continue  # a high surrogate waiting for its low half
        return cut
    return end  # no boundary in reach: not valid JSON, which orjson will say
