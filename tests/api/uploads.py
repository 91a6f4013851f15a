"""Helpers for the v2 content tests (test_v2_upload*.py, test_v2_content.py):
forms, raw connections to whichever server the `client` fixture runs, and
what a failed request must not leave behind (blobs, part files, documents,
counted bytes, jobs)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis

from shared.config import Settings
from shared.jobs import stream_of
from shared.storage import Storage
from tests.engines.s3 import remove_stored, store_bytes, stored_bytes, stored_entries

IMAGES = Path(__file__).resolve().parents[1] / "images"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def form(*files: tuple[str, bytes], **fields: str) -> aiohttp.FormData:
    """A v2 upload form: the fields first, then a `file` part per (filename, bytes)."""
    data = aiohttp.FormData(quote_fields=False)  # names as browsers and curl send them: raw UTF-8
    for name, value in fields.items():
        data.add_field(name, value)
    for filename, content in files:
        data.add_field("file", content, filename=filename, content_type="application/octet-stream")
    return data


def boundary_body(parts: list[tuple[dict[str, str], bytes]], boundary: str = "b0undary", close: bool = True) -> bytes:
    """A multipart/form-data body written by hand: (headers, content) per part."""
    out = b""
    for headers, content in parts:
        out += f"--{boundary}\r\n".encode()
        out += b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items()) + b"\r\n" + content + b"\r\n"
    if close:
        out += f"--{boundary}--\r\n".encode()
    return out


def file_part(filename: str | None, content: bytes, name: str = "file") -> tuple[dict[str, str], bytes]:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    return {"Content-Disposition": disposition, "Content-Type": "application/octet-stream"}, content


def field_part(name: str, value: str) -> tuple[dict[str, str], bytes]:
    return {"Content-Disposition": f'form-data; name="{name}"'}, value.encode()


def multipart_headers(token: str, boundary: str = "b0undary") -> dict[str, str]:
    return {"X-Token": token, "Content-Type": f"multipart/form-data; boundary={boundary}"}


def server_port(client, settings: Settings) -> int:
    """The port of the server behind `client` (in-process test server, or the live service)."""
    server = getattr(client, "server", None)
    return server.port if server is not None else settings.server.port


async def raw_request(port: int, head: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head.encode())
    await writer.drain()
    return reader, writer


async def raw_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if line)}
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", 0))), 30)
    return int(lines[0].split()[1]), headers, body


def folder_entries(settings: Settings) -> list[str]:
    """Everything in FOLDER_PATH: blobs, thumbnails, part files; with blobs in
    S3, what the bucket holds under the prefix as well (tests/engines/s3.py)."""
    folder = settings.storage.folder_path
    local = sorted(os.listdir(folder)) if folder.exists() else []
    if not settings.storage.blob_url:
        return local
    return sorted(set(local) | set(stored_entries(settings)))


def blob_bytes(settings: Settings, name: str) -> bytes:
    """The bytes of the blob (or thumbnail) called `name`, wherever blobs live."""
    if settings.storage.blob_url:
        return stored_bytes(settings, name)
    return (settings.storage.folder_path / name).read_bytes()


def put_blob(settings: Settings, name: str, data: bytes) -> None:
    """Make the blob (or thumbnail) `name` hold `data`, as the worker would."""
    if settings.storage.blob_url:
        store_bytes(settings, name, data)
    else:
        (settings.storage.folder_path / name).write_bytes(data)


def drop_blob(settings: Settings, name: str) -> None:
    """Remove the blob (or thumbnail) `name` behind the service's back."""
    if settings.storage.blob_url:
        remove_stored(settings, name)
    else:
        os.unlink(settings.storage.folder_path / name)


async def thumbnail_jobs(settings: Settings) -> list[dict]:
    """The thumbnails jobs enqueued so far (the tests' services run no job
    worker), each without the id of the request that enqueued it (which every
    one has: that is the logs' business, test_files_create)."""
    import json

    async with aioredis.from_url(settings.redis.url) as redis:
        entries = await redis.xrange(stream_of("thumbnails"))
    payloads = [json.loads(fields[b"data"]) for _, fields in entries]
    assert all(isinstance(payload.pop("requestId"), str) for payload in payloads)
    return payloads


async def nothing_left(storage: Storage, settings: Settings, user_id: str, *, kept: list[str] | None = None,
                       used_bytes: int = 0, files: int = 0) -> None:
    """No blob or part file beyond `kept`, no document beyond `files`, no bytes
    counted beyond `used_bytes`, no job."""
    assert folder_entries(settings) == sorted(kept or [])
    assert await storage.count_files() == files
    assert (await storage.usage(user_id)).used_bytes == used_bytes
    assert await thumbnail_jobs(settings) == []


def random_name(suffix: str = ".bin") -> str:
    return f"{uuid.uuid4().hex[:8]}{suffix}"


def image_bytes(name: str) -> bytes:
    return (IMAGES / name).read_bytes()


def big(size: int) -> bytes:
    return os.urandom(size)
