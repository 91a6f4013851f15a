"""Cursors of v2 lists: opaque, short and tamper-evident.

A cursor is where the previous page ended (a keyset Position, or a trash
position) and nothing else; the list it belongs to (whose, which folder or
search, which order) is not carried but bound: it goes into the HMAC-SHA256
tag, so a cursor shown to another list, another user or another order fails
the check exactly as an edited one does. Layout, base64url without padding:

    version (1) | flags (1) | id (12, or 1 + its length as text) | value | tag (16)

The value is the sort key: a name key in UTF-8 (the rest), or 8 bytes of an
updated_at / trashed_at (IEEE double) or a size (signed 64-bit). The tag is
the first 128 bits of HMAC-SHA256(key, list || payload).

The key is 32 random bytes kept in Redis (SET NX: the first process to start
makes it, every other process and node reads the same one), read once per
process (see CursorKey for a key Redis lost). A cursor made under another key
or another layout version is stale: refused like a tampered one, 400 "Invalid
cursor"; the client starts the list again. A cursor whose item was deleted since still
works: the next page starts after its key, wherever that now falls.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from redis.asyncio import Redis

from shared.errors import Invalid
from shared.storage import Order, Position

T = TypeVar("T")

INVALID_CURSOR = "Invalid cursor"
KEY_NAME = "files_manager:cursor_key"
KEY_BYTES = 32

_VERSION = 1
_TAG_BYTES = 16
_FOLDER = 0x01  # the position is a folder's
_TEXT_ID = 0x02  # the id is stored as text (not 24 lowercase hex digits)
_STR, _FLOAT, _INT = 0x00, 0x10, 0x20  # the value's type
_TYPE_MASK = 0x30
_MAX_CHARS = 2048  # far beyond any cursor we make (a 255-byte name case-folded is < 1 KiB)
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_HEX_ID = re.compile(r"[0-9a-f]{24}")
_EIGHT = struct.Struct(">d"), struct.Struct(">q")

TrashPosition = tuple[float, str]  # (trashed_at, id) of the last item of a trash page


@dataclass(frozen=True, slots=True)
class ListScope:
    """Which list a cursor belongs to: the user's folder (`subject` its id,
    "0" the root), search (`subject` the searched text) or trash."""

    user_id: str
    kind: str  # "folder", "search" or "trash"
    subject: str = ""
    order: Order | None = None

    def context(self) -> bytes:
        order = self.order
        fields = [self.user_id, self.kind, self.subject,
                  None if order is None else order.field, None if order is None else order.descending]
        return json.dumps(fields, separators=(",", ":")).encode()


class Cursors:
    """Encode and check cursors under one key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a cursor key needs at least 16 bytes")
        self._key = key

    def encode(self, scope: ListScope, position: Position) -> str:
        flags = _FOLDER if position.is_folder else 0
        value = position.value
        if isinstance(value, str):
            raw = value.encode()
        elif isinstance(value, float):
            flags |= _FLOAT
            raw = _EIGHT[0].pack(value)
        else:
            flags |= _INT
            raw = _EIGHT[1].pack(value)
        return self._seal(scope, flags, position.id, raw)

    def decode(self, scope: ListScope, cursor: str) -> Position:
        """The position `cursor` stands for in `scope`'s list, or Invalid("Invalid cursor")."""
        flags, file_id, raw = self._open(scope, cursor)
        kind = flags & _TYPE_MASK
        value: str | float | int
        expected = {"name": _STR, "updated_at": _FLOAT, "size": _INT}
        if scope.order is None or kind != expected[scope.order.field]:
            raise Invalid(INVALID_CURSOR)
        if kind == _STR:
            try:
                value = raw.decode()
            except UnicodeDecodeError:
                raise Invalid(INVALID_CURSOR) from None
        else:
            value = _number(kind, raw)
        return Position(bool(flags & _FOLDER), value, file_id)

    def encode_trash(self, scope: ListScope, position: TrashPosition) -> str:
        trashed_at, file_id = position
        return self._seal(scope, _FLOAT, file_id, _EIGHT[0].pack(trashed_at))

    def decode_trash(self, scope: ListScope, cursor: str) -> TrashPosition:
        flags, file_id, raw = self._open(scope, cursor)
        if flags & _TYPE_MASK != _FLOAT:
            raise Invalid(INVALID_CURSOR)
        trashed_at = _number(_FLOAT, raw)
        assert isinstance(trashed_at, float)
        return trashed_at, file_id

    def _seal(self, scope: ListScope, flags: int, file_id: str, raw: bytes) -> str:
        if _HEX_ID.fullmatch(file_id):
            id_bytes = bytes.fromhex(file_id)
        else:
            flags |= _TEXT_ID
            text = file_id.encode()
            id_bytes = bytes([len(text)]) + text
        payload = bytes([_VERSION, flags]) + id_bytes + raw
        token = payload + self._tag(scope, payload)
        return base64.urlsafe_b64encode(token).rstrip(b"=").decode()

    def _open(self, scope: ListScope, cursor: str) -> tuple[int, str, bytes]:
        if len(cursor) > _MAX_CHARS or not _BASE64URL.fullmatch(cursor):
            raise Invalid(INVALID_CURSOR)
        try:
            token = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise Invalid(INVALID_CURSOR) from None
        # One spelling per cursor: a last character differing only in its unused bits is another cursor.
        if len(token) < 2 + _TAG_BYTES or base64.urlsafe_b64encode(token).rstrip(b"=").decode() != cursor:
            raise Invalid(INVALID_CURSOR)
        payload, tag = token[:-_TAG_BYTES], token[-_TAG_BYTES:]
        if not hmac.compare_digest(tag, self._tag(scope, payload)) or payload[0] != _VERSION:
            raise Invalid(INVALID_CURSOR)
        flags, rest = payload[1], payload[2:]
        if flags & _TEXT_ID:
            if not rest or len(rest) < 1 + rest[0]:
                raise Invalid(INVALID_CURSOR)
            length = rest[0]
            try:
                file_id = rest[1:1 + length].decode()
            except UnicodeDecodeError:
                raise Invalid(INVALID_CURSOR) from None
            return flags, file_id, rest[1 + length:]
        if len(rest) < 12:
            raise Invalid(INVALID_CURSOR)
        return flags, rest[:12].hex(), rest[12:]

    def _tag(self, scope: ListScope, payload: bytes) -> bytes:
        context = scope.context()
        message = len(context).to_bytes(4, "big") + context + payload
        return hmac.new(self._key, message, hashlib.sha256).digest()[:_TAG_BYTES]


def _number(kind: int, raw: bytes) -> float | int:
    if len(raw) != 8:
        raise Invalid(INVALID_CURSOR)
    value: float | int = _EIGHT[0 if kind == _FLOAT else 1].unpack(raw)[0]
    if kind == _FLOAT and value != value:  # NaN: never a time we wrote
        raise Invalid(INVALID_CURSOR)
    return value


async def shared_key(redis: Redis, mine: bytes | None = None) -> bytes:
    """The cursor key every process and node uses: made once (SET NX; `mine`
    when given, else fresh), then read."""
    await redis.set(KEY_NAME, mine or secrets.token_bytes(KEY_BYTES), nx=True)
    key = await redis.get(KEY_NAME)
    if not isinstance(key, bytes) or len(key) < 16:
        raise RuntimeError(f"Redis key {KEY_NAME} is not a cursor key (written by something else?): "
                           "delete it and restart the API")
    return key


class CursorKey:
    """This process's cursors under the shared key, read at start (or, if
    Redis did not answer then, at first need).

    Redis can lose the key (a restart without persistence, a flush) while
    processes keep theirs, and a process started since made a new one. So a
    cursor that fails the check makes the process look again: a missing key
    is put back (its own, which the others still use), a different one is
    adopted and the cursor checked once more. Processes agree again at the
    first refused cursor; the cursors made in between are stale (400)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._cursors: Cursors | None = None
        self._key = b""

    async def load(self) -> None:
        """Read the shared key now (at start)."""
        await self._current()

    async def _current(self) -> Cursors:
        if self._cursors is None:
            self._adopt(await shared_key(self._redis))
        assert self._cursors is not None
        return self._cursors

    def _adopt(self, key: bytes) -> None:
        self._key = key
        self._cursors = Cursors(key)

    async def _refreshed(self) -> Cursors | None:
        """The cursors under the shared key if it differs from ours, else None."""
        key = await shared_key(self._redis, self._key or None)
        if key == self._key:
            return None
        self._adopt(key)
        return self._cursors

    async def encode(self, scope: ListScope, position: Position) -> str:
        return (await self._current()).encode(scope, position)

    async def encode_trash(self, scope: ListScope, position: TrashPosition) -> str:
        return (await self._current()).encode_trash(scope, position)

    async def decode(self, scope: ListScope, cursor: str) -> Position:
        return await self._checked(lambda cursors: cursors.decode(scope, cursor))

    async def decode_trash(self, scope: ListScope, cursor: str) -> TrashPosition:
        return await self._checked(lambda cursors: cursors.decode_trash(scope, cursor))

    async def _checked(self, decode: Callable[[Cursors], T]) -> T:
        """`decode` under our key, else (Invalid) once more under the shared key if it changed."""
        try:
            return decode(await self._current())
        except Invalid:
            newer = await self._refreshed()
            if newer is None:
                raise
            return decode(newer)
