"""The v1 upload body, `{"name": ..., "type": ..., "data": "<base64>", ...}`,
taken in as it arrives: never held whole in memory.

`UploadScanner` reads the top-level JSON object chunk by chunk. The `data`
string is unescaped and base64-decoded on the fly (whitespace inside it is
allowed, as `base64` wraps lines) and its bytes handed back to be written to
disk; every other member is small (they are capped together) and parsed with
orjson once the body is in. A syntax error anywhere is a 400 at once; invalid
base64 is only remembered, because the contract's checks (`Missing name`, ...)
come first.

Speed: the scan runs over every byte, so it works on whole chunks with
`bytes.find`, slicing and C decoders; in the common case (plain base64 between
quotes) a chunk costs a few memchr calls and one strict SIMD base64 decode. Escapes
(`\\/`, `\\n`, `\\u0041`), non-ASCII bytes and other oddities take a slower
path through orjson, which keeps JSON's rules exact there.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from shared.errors import Invalid

from .base64_stream import Base64Stream
from .bodies import json_error, parse_json
from .json_strings import Buffer, safe_cut, string_end

# The members other than `data` (name, type, parentId, isPublic and anything
# else a client sends) may take this many bytes together.
MEMBERS_LIMIT = 64 * 1024

_NOT_JSON_SPACE = re.compile(rb"[^ \t\n\r]")
_STRUCTURE = re.compile(rb'["\[\]{},]')
_CONTROL = re.compile(rb"[\x00-\x1f]")
_BASE64_SPACE = b" \t\n\r\x0b\x0c"  # what `bytes.split()` calls whitespace

# States of the scanner.
_START, _FIRST_KEY, _NEXT_KEY, _KEY, _COLON, _VALUE, _DATA, _OTHER, _AFTER_VALUE, _END, _NOT_OBJECT = range(11)


def _syntax(message: str) -> Invalid:
    return Invalid(f"Invalid JSON body: {message}")


def _members_too_large() -> web.HTTPRequestEntityTooLarge:
    exc = web.HTTPRequestEntityTooLarge(max_size=MEMBERS_LIMIT, actual_size=MEMBERS_LIMIT + 1)
    exc.text = f"the members other than data take more than {MEMBERS_LIMIT} bytes"
    return exc


@dataclass(frozen=True)
class UploadBody:
    """What the body said. `data` is "absent", "string" (streamed: its bytes
    were handed back by `feed`) or "value" (not a string: it is in `members`)."""

    members: dict[str, Any]
    data: str
    data_empty: bool
    data_is_base64: bool


class UploadScanner:
    def __init__(self) -> None:
        # Bytes not consumed yet: at most a partial member (capped) or the
        # few bytes of an escape or character cut by a chunk's end.
        self._buf = bytearray()
        # Where the search for the end of the key or value in progress goes
        # on (relative to its start, at the buffer's start): each byte is
        # looked at once however small the chunks.
        self._scan = 0
        self._depth = 0
        self._in_string = False
        self._state = _START
        self._key = ""
        self._members: list[tuple[str, bytes | bytearray]] = []
        self._members_size = 0
        self._data = "absent"
        self._data_length = 0
        self._base64_ok = True
        self._decoder = Base64Stream()

    def feed(self, chunk: bytes) -> list[bytes]:
        """Scan the next chunk; returns the content bytes decoded from it."""
        buf: bytes | bytearray
        if self._buf:
            self._buf += chunk
            buf = self._buf
        else:
            buf = chunk  # the usual case inside data: no copy
        out: list[bytes] = []
        pos = self._run(buf, 0, out, final=False)
        if buf is self._buf:
            del self._buf[:pos]
        else:
            self._buf = bytearray(buf[pos:])
        if self._state != _DATA and len(self._buf) > MEMBERS_LIMIT:
            raise _members_too_large()
        return out

    def end(self) -> UploadBody:
        """The body is complete: its members, or Invalid if it is not a whole object."""
        buf, self._buf = self._buf, bytearray()
        self._run(buf, 0, [], final=True)
        if self._state == _START:  # empty (or only whitespace): every member missing
            return UploadBody({}, "absent", False, True)
        if self._state != _END:
            raise _syntax("unexpected end of data")
        members = {key: parse_json(raw) for key, raw in self._members}
        return UploadBody(members, self._data, self._data_length == 0, self._base64_ok)

    # The state machine: each step consumes from `pos` and returns the new
    # position and whether it needs more bytes before going on.

    def _run(self, buf: Buffer, pos: int, out: list[bytes], final: bool) -> int:
        while True:
            state = self._state
            if state == _DATA:
                pos, hungry = self._data_step(buf, pos, out)
            elif state == _OTHER:
                pos, hungry = self._other_step(buf, pos, final)
            elif state == _NOT_OBJECT:
                pos, hungry = self._not_object_step(buf, pos, final)
            else:
                pos, hungry = self._token_step(buf, pos, final)
            if hungry:
                return pos

    def _token_step(self, buf: Buffer, pos: int, final: bool) -> tuple[int, bool]:
        match = _NOT_JSON_SPACE.search(buf, pos)
        if match is None:
            if final and self._state not in (_START, _END):
                raise _syntax("unexpected end of data")
            return len(buf), True
        pos = match.start()
        char = buf[pos:pos + 1]
        state = self._state
        if state == _START:
            self._state = _FIRST_KEY if char == b"{" else _NOT_OBJECT
            return (pos + 1 if char == b"{" else pos), False
        if state in (_FIRST_KEY, _NEXT_KEY):
            if char == b"}" and state == _FIRST_KEY:
                self._state = _END
                return pos + 1, False
            if char != b'"':
                raise _syntax(f"expected a member name at {char!r}")
            self._state = _KEY
            return self._key_step(buf, pos, final)
        if state == _KEY:
            return self._key_step(buf, pos, final)
        if state == _COLON:
            if char != b":":
                raise _syntax(f"expected ':' after a member name, not {char!r}")
            self._state = _VALUE
            return pos + 1, False
        if state == _VALUE:
            if self._key == "data":
                if self._data != "absent":
                    raise _syntax("the member data is given twice")
                if char == b'"':
                    self._data = "string"
                    self._state = _DATA
                    return pos + 1, False
                self._data = "value"
            self._state = _OTHER
            return pos, False
        if state == _AFTER_VALUE:
            if char == b",":
                self._state = _NEXT_KEY
            elif char == b"}":
                self._state = _END
            else:
                raise _syntax(f"expected ',' or '}}' after a value, not {char!r}")
            return pos + 1, False
        raise _syntax("unexpected content after the object")  # _END

    def _key_step(self, buf: Buffer, pos: int, final: bool) -> tuple[int, bool]:
        end = string_end(buf, pos + max(1, self._scan))
        if end < 0:
            if final:
                raise _syntax("unexpected end of data in a member name")
            self._scan = len(buf) - pos
            return pos, True
        self._scan = 0
        raw = buf[pos:end + 1]
        self._count_member_bytes(len(raw))
        try:
            key = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise json_error(exc) from None
        if not isinstance(key, str):
            raise _syntax("a member name must be a string")
        self._key = key
        self._state = _COLON
        return end + 1, False

    def _other_step(self, buf: Buffer, pos: int, final: bool) -> tuple[int, bool]:
        end = self._value_end(buf, pos)
        if end < 0:
            if not final:
                return pos, True
            end = len(buf)
        raw = buf[pos:end].rstrip(b" \t\n\r")
        if not raw:
            raise _syntax("a member has no value")
        self._count_member_bytes(len(raw))
        self._members.append((self._key, raw))
        self._state = _AFTER_VALUE
        return end, False

    def _not_object_step(self, buf: Buffer, pos: int, final: bool) -> tuple[int, bool]:
        if len(buf) - pos > MEMBERS_LIMIT:
            raise Invalid("Invalid JSON body: expected an object")
        if not final:
            return pos, True
        parse_json(buf[pos:])  # a syntax error says so; valid JSON is still not an object
        raise Invalid("Invalid JSON body: expected an object")

    def _count_member_bytes(self, size: int) -> None:
        self._members_size += size
        if self._members_size > MEMBERS_LIMIT:
            raise _members_too_large()

    def _data_step(self, buf: Buffer, pos: int, out: list[bytes]) -> tuple[int, bool]:
        end = string_end(buf, pos)
        if end >= 0:
            self._data_piece(buf[pos:end], out)
            if self._base64_ok:
                try:
                    self._decoder.end()
                except binascii.Error:
                    self._base64_ok = False
            self._state = _AFTER_VALUE
            return end + 1, False
        cut = safe_cut(buf, pos, len(buf))
        self._data_piece(buf[pos:cut], out)
        return cut, True

    def _data_piece(self, raw: Buffer, out: list[bytes]) -> None:
        """Part of the data string, from a safe boundary to a safe boundary."""
        if not raw:
            return
        self._data_length += len(raw)
        if self._base64_ok and b"\\" not in raw and b" " not in raw:
            try:
                out.extend(self._decoder.feed(raw))
                return
            except binascii.Error:
                pass  # not plain base64: find out why below (a JSON error wins)
        plain = raw.isascii() and b"\\" not in raw and _CONTROL.search(raw) is None
        if plain and not self._base64_ok:
            return
        try:
            text = orjson.loads(b'"%s"' % raw)
        except orjson.JSONDecodeError as exc:
            raise json_error(exc) from None
        if not self._base64_ok:
            return
        if not text.isascii():
            self._base64_ok = False
            return
        try:
            out.extend(self._decoder.feed(text.encode("ascii").translate(None, _BASE64_SPACE)))
        except binascii.Error:
            self._base64_ok = False


    def _value_end(self, buf: Buffer, pos: int) -> int:
        """Index just past the JSON value starting at `pos` (any kind), or -1
        when the buffer ends first; the search resumes there next time.
        Validity is left to orjson."""
        depth = self._depth
        i = pos + self._scan
        while True:
            if self._in_string:
                end = string_end(buf, i)
                if end < 0:
                    break
                self._in_string = False
                i = end + 1
                if depth == 0:
                    return self._value_found(i)
                continue
            match = _STRUCTURE.search(buf, i)
            if match is None:
                break
            at = match.start()
            char = buf[at]
            i = at + 1
            if char == 0x22:  # "
                self._in_string = True
            elif char in b"[{":
                depth += 1
            elif char in b"]}":
                if depth == 0:
                    return self._value_found(at)
                depth -= 1
                if depth == 0:
                    return self._value_found(at + 1)
            elif depth == 0:  # a comma ends a scalar
                return self._value_found(at)
        self._scan = len(buf) - pos
        self._depth = depth
        return -1

    def _value_found(self, end: int) -> int:
        self._scan = self._depth = 0
        self._in_string = False
        return end
