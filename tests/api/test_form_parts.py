"""form_parts.FormReader reads every form as aiohttp's own MultipartReader
does: the same parts, the same bytes, the same refusals, whatever the
content (delimiter look-alikes, CRs at chunk ends) and wherever the body is
cut into chunks."""

from __future__ import annotations

import asyncio
import itertools
from unittest import mock

from aiohttp import MultipartReader
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.streams import StreamReader
from hypothesis import given, settings
from hypothesis import strategies as st

from services.api.form_parts import FormReader

BOUNDARY = "------------------------d74496d66958873e"
DELIMITER = f"\r\n--{BOUNDARY}".encode()
# Content built from pieces of the delimiter, so that near-misses land everywhere.
PIECES = st.sampled_from([b"\r", b"\n", b"\r\n", b"--", DELIMITER[:5], DELIMITER[:-1], DELIMITER[2:],
                          BOUNDARY.encode(), b"x", b"\x00\xff", b"-" * 3])
CONTENT = st.lists(st.one_of(PIECES, st.binary(max_size=40)), max_size=30).map(b"".join)


def body_of(contents: list[bytes]) -> bytes:
    out = b""
    for n, content in enumerate(contents):
        out += (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f{n}\"\r\n\r\n"
                .encode() + content + b"\r\n")
    return out + f"--{BOUNDARY}--\r\n".encode()


async def read_all(reader_cls: type[MultipartReader], body: bytes, cuts: list[int]) -> list[bytes] | str:
    stream = StreamReader(mock.Mock(_reading_paused=False), 2**16, loop=asyncio.get_running_loop())
    points = sorted({min(c, len(body)) for c in cuts} | {0, len(body)})
    for start, end in itertools.pairwise(points):
        stream.feed_data(body[start:end])
    stream.feed_eof()
    reader = reader_cls({"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}, stream)
    parts = []
    try:
        while (part := await reader.next()) is not None:
            data = b""
            while not part.at_eof():
                data += await part.read_chunk(64)  # aiohttp's needs at least the delimiter's length
            parts.append(data)
    except (ValueError, HttpProcessingError):  # what upload_form.py turns into 400s
        return "refused"
    return parts


@settings(max_examples=400, deadline=None, derandomize=True)
@given(contents=st.lists(CONTENT, min_size=1, max_size=3), cuts=st.lists(st.integers(0, 400), max_size=12),
       truncate=st.one_of(st.none(), st.integers(0, 300)))
def test_the_same_parts_as_aiohttps_reader(contents, cuts, truncate):
    body = body_of(contents)
    if truncate is not None:
        body = body[:truncate]

    async def both() -> tuple[list[bytes] | str, list[bytes] | str]:
        return await read_all(FormReader, body, cuts), await read_all(MultipartReader, body, cuts)

    ours, theirs = asyncio.run(both())
    # Content may hold the delimiter itself (pieces of it side by side): both read the same other parts.
    assert ours == theirs
    if truncate is None and not any(DELIMITER in b"\r\n" + content + b"\r\n" for content in contents):
        assert ours == contents
