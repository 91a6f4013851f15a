"""Reading JSON request bodies: clear 400s for malformed input, large bodies
parsed off the event loop (a 50 MB upload is ~70 MB of JSON)."""

from __future__ import annotations

import asyncio
import binascii
import json
from base64 import b64decode
from typing import Any

from aiohttp import web

from shared.errors import Invalid

_INLINE_LIMIT = 256 * 1024


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise Invalid("Invalid JSON body: not UTF-8") from None
    except ValueError as exc:
        raise Invalid(f"Invalid JSON body: {exc}") from None


async def json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object; an empty body counts as `{}` (every field missing)."""
    raw = await request.read()  # raises 413 past client_max_size
    if not raw.strip():
        return {}
    if len(raw) <= _INLINE_LIMIT:
        body = _parse(raw)
    else:
        body = await asyncio.to_thread(_parse, raw)
    if not isinstance(body, dict):
        raise Invalid("Invalid JSON body: expected an object")
    return body


def _decode_base64(data: str) -> bytes:
    # Tolerate line breaks (`base64` wraps at 76 columns by default), nothing else.
    compact = "".join(data.split()) if any(ws in data for ws in "\n\r\t ") else data
    try:
        return b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("Invalid data: not base64") from None


async def decode_base64(data: str) -> bytes:
    if len(data) <= _INLINE_LIMIT:
        return _decode_base64(data)
    return await asyncio.to_thread(_decode_base64, data)
