"""The streaming scanner of the v1 upload body: whatever the chunking, it says
what a whole-body parse says (members, data bytes, base64 validity, errors)."""

from __future__ import annotations

import base64
import binascii
import json
import os

import orjson
import pytest
from aiohttp import web

from services.api.base64_stream import Base64Stream
from services.api.json_upload import MEMBERS_LIMIT, UploadScanner
from shared.errors import Invalid

CONTENT = os.urandom(700)
B64 = base64.b64encode(CONTENT).decode()


def scan(body: bytes, sizes: list[int]):
    """Feed `body` in chunks of the given sizes (cycled); returns (result, content)."""
    scanner = UploadScanner()
    out = []
    pos = i = 0
    while pos < len(body):
        size = sizes[i % len(sizes)]
        out.extend(scanner.feed(body[pos:pos + size]))
        pos += size
        i += 1
    result = scanner.end()
    return result, b"".join(out)


def reference(body: bytes):
    """What a whole-body parse says: (members without a string data, data kind, bytes or None)."""
    value = json.loads(body) if body.strip() else {}
    data = value.get("data")
    members = {k: v for k, v in value.items() if not (k == "data" and isinstance(data, str))}
    if "data" not in value:
        return members, "absent", None
    if not isinstance(data, str):
        return members, "value", None
    try:
        compact = "".join(c for c in data if c not in " \t\n\r\x0b\x0c")
        decoded = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        decoded = None
    return members, "string", decoded


CHUNKINGS = [[1], [2], [3], [5], [7], [13, 1, 64], [4096], [1 << 20]]


def _slashes(text: str) -> str:
    return text.replace("/", "\\/")


def _wrapped(text: str, sep: str) -> str:
    return sep.join(text[i:i + 76] for i in range(0, len(text), 76))


def _u_escaped(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" if i % 7 == 0 else c for i, c in enumerate(text))


GOOD_BODIES = [
    '{"name": "a.bin", "type": "file", "data": "@"}'.replace("@", B64),
    '{"data": "@", "name": "a.bin", "type": "image", "parentId": 0, "isPublic": true}'.replace("@", B64),
    '{"name":"x","type":"file","data":"@"}'.replace("@", _slashes(B64)),
    '{"name": "x", "type": "file", "data": "@"}'.replace("@", _wrapped(B64, "\\n")),
    '{"name": "x", "type": "file", "data": "@"}'.replace("@", _wrapped(B64, "\\r\\n")),
    '{"name": "x", "type": "file", "data": "@"}'.replace("@", _wrapped(B64, " ")),
    '{"name": "x", "type": "file", "data": "@"}'.replace("@", _u_escaped(B64)),
    '  {  "d\\u0061ta" : "@" , "name" : "\\u00e9t\\u00e9 \\ud83d\\ude00.txt", "type" : "file" }  '.replace("@", B64),
    ('{"x": {"a": "}\\"]", "b": [1, [2, {"z": null}]]}, "name": "n", "type": "file", "data": "@", "y": -1.5e3}'
     .replace("@", B64)),
    '{"name": "x", "type": "file", "data": "aGk="}',
    '{"name": "x", "type": "file", "data": "aGk=\\n"}',
    '{"name": "x", "type": "file", "data": ""}',
    '{"name": "x", "type": "folder"}',
    '{"name": "x", "type": "file", "data": 1234}',
    '{"name": "x", "type": "file", "data": null}',
    '{"name": "x", "type": "file", "data": {"a": "b"}}',
    '{"name": "x", "type": "file", "data": [1, "]"]}',
    '{"name": "x", "name": "y", "type": "file", "data": true}',
    "{}",
    "",
    "   \n ",
    # base64 that is not: the contract's checks come first, so these parse
    '{"name": "x", "type": "file", "data": "not base64!!"}',
    '{"name": "x", "type": "file", "data": "aGk"}',
    '{"name": "x", "type": "file", "data": "aGk=aGk="}',
    '{"name": "x", "type": "file", "data": "aG\\u0000k="}',
    '{"name": "x", "type": "file", "data": "\\u00e9t\\u00e9"}',
    '{"name": "x", "type": "file", "data": "été"}',
    '{"name": "x", "type": "file", "data": "\\ud83d\\ude00"}',
    '{"name": "x", "type": "file", "data": "aGk\\\\"}',
    '{"name": "x", "type": "file", "data": "aGk\\""}',
    '{"name": "x", "type": "file", "data": "@!"}'.replace("@", B64),
]


@pytest.mark.parametrize("body", GOOD_BODIES)
@pytest.mark.parametrize("sizes", CHUNKINGS)
def test_the_scan_says_what_a_whole_parse_says(body, sizes):
    raw = body.encode()
    members, kind, decoded = reference(raw)
    result, content = scan(raw, sizes)
    assert result.members == members
    assert result.data == kind
    if kind == "string":
        assert result.data_is_base64 == (decoded is not None)
        if decoded is not None:
            assert content == decoded
        assert result.data_empty == (json.loads(raw)["data"] == "")


@pytest.mark.parametrize("body", GOOD_BODIES[:9])
def test_every_split_point_gives_the_same_bytes(body):
    raw = body.encode()
    _, _, expected = reference(raw)
    for cut in range(1, len(raw), 3):
        scanner = UploadScanner()
        content = b"".join(scanner.feed(raw[:cut]) + scanner.feed(raw[cut:]))
        assert scanner.end().data_is_base64
        assert content == expected, cut


BAD_BODIES = [
    '{"name": "x", "type": "file", "data": "aGk=',  # cut short
    '{"name": "x", "type": "file", "data": "aGk="',
    '{"name": "x", "type": "file", "data": "aGk=",',
    '{"name": "x" "type": "file"}',
    '{"name": "x",}',
    '{"name": "x"} trailing',
    '{"name" "x"}',
    '{name: "x"}',
    '{"name": }',
    '{"name": "x", "type": "file", "data": "aG\nk="}',  # a raw control character
    '{"name": "x", "type": "file", "data": "aG\\xk="}',  # no such escape
    '{"name": "x", "type": "file", "data": "aG\\u12"}',
    '{"name": "x", "type": "file", "data": "aGk=\\ud800"}',  # lone surrogate
    '{"name": "\\ud800", "type": "folder"}',
    '{"name": "x", "type": "file", "data": "aGk=", "data": "aGk="}',
    '{"name": [' + "[" * 5000 + "]" * 5000 + "]}",
    "[" * 1000,
    '{"name": "x", "type": "file", "data": "aGk=" "x"}',
    '{"name": tru, "type": "folder"}',
]


@pytest.mark.parametrize("body", BAD_BODIES)
@pytest.mark.parametrize("sizes", [[1], [3], [1 << 20]])
def test_invalid_json_is_invalid_whatever_the_chunking(body, sizes):
    with pytest.raises(Invalid) as caught:
        scan(body.encode(), sizes)
    assert caught.value.message.startswith("Invalid JSON body")


@pytest.mark.parametrize("raw", [b'{"name": "\xff", "type": "folder"}',
                                 b'{"data": "aG\xed\xa0\x80k=", "name": "x", "type": "file"}',
                                 b'{"data": "aG\xc3', b'{"data": "aGk=\xe2\x82"}'])
def test_invalid_utf8_is_said_so(raw):
    for sizes in ([1], [2], [1 << 20]):
        with pytest.raises(Invalid) as caught:
            scan(raw, sizes)
        assert caught.value.message.startswith("Invalid JSON body")


@pytest.mark.parametrize("body", ["[]", '"text"', "12", "null", "[broken"])
def test_a_body_that_is_not_an_object(body):
    with pytest.raises(Invalid) as caught:
        scan(body.encode(), [2])
    assert caught.value.message.startswith("Invalid JSON body")
    if body != "[broken":
        assert caught.value.message == "Invalid JSON body: expected an object"


def test_members_are_capped_together_but_data_is_not():
    big = "x" * (MEMBERS_LIMIT // 2)
    body = orjson.dumps({"name": big, "other": big, "type": "file", "data": "aGk="})
    with pytest.raises(web.HTTPRequestEntityTooLarge):
        scan(body, [4096])
    data = base64.b64encode(os.urandom(4 * MEMBERS_LIMIT)).decode()
    result, content = scan(orjson.dumps({"name": "x", "type": "file", "data": data}), [4096])
    assert result.data_is_base64 and len(content) == 4 * MEMBERS_LIMIT


def test_a_deeply_nested_member_is_a_clear_400():
    with pytest.raises(Invalid) as caught:
        scan(b'{"name": ' + b"[" * 20000 + b"]" * 20000 + b"}", [4096])
    assert caught.value.message == "Invalid JSON body: nested more than 1024 levels deep"


def test_base64_stream_rules():
    stream = Base64Stream()
    assert b"".join(stream.feed(b"aG") + stream.feed(b"k") + stream.feed(b"=")) == b"hi"
    stream.end()
    with pytest.raises(binascii.Error):
        stream.feed(b"aGk=")  # after padding
    incomplete = Base64Stream()
    incomplete.feed(b"aGk")
    with pytest.raises(binascii.Error):
        incomplete.end()
