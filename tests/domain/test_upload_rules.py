"""The rules below v2 uploads: the type from the bytes, the limits an upload
is held to, and the hash and head a BlobWriter keeps (names: test_names.py)."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
from PIL import Image

from services.worker.thumbnails import _OPEN_FORMATS
from shared.blobs import FolderBlobs
from shared.domain.quotas import UploadLimits, effective_quota, room_left
from shared.domain.sniff import image_type, kind_of
from shared.errors import QuotaExceeded, TooLarge
from shared.storage import Usage

IMAGES = Path(__file__).resolve().parents[1] / "images"


def _pillow_opens(data: bytes) -> str | None:
    try:
        with Image.open(io.BytesIO(data), formats=_OPEN_FORMATS) as im:
            return im.format
    except Exception:  # noqa: BLE001 - whatever Pillow says, it did not open it
        return None


@pytest.mark.parametrize("path", sorted(p for p in IMAGES.iterdir() if p.suffix != ".txt"), ids=lambda p: p.name)
def test_every_test_image_is_an_image_by_its_bytes(path):
    data = path.read_bytes()
    kind, mime_type = kind_of(data[:64], "renamed.txt")  # the name says text: the bytes win
    assert kind == "image"
    assert mime_type == Image.MIME[_pillow_opens(data) or _format_by_name(path)]


def _format_by_name(path: Path) -> str:
    # broken.png and decompression_bomb.gif: Pillow refuses to open them (the worker then rejects them)
    return {".png": "PNG", ".gif": "GIF"}[path.suffix]


@pytest.mark.parametrize("fmt, mime_type", [("BMP", "image/bmp"), ("TIFF", "image/tiff"), ("WEBP", "image/webp"),
                                            ("PNG", "image/png"), ("GIF", "image/gif"), ("JPEG", "image/jpeg")])
def test_each_format_the_worker_opens_is_recognised(fmt, mime_type):
    buf = io.BytesIO()
    Image.new("RGB", (3, 2), "red").save(buf, fmt)
    data = buf.getvalue()
    assert _pillow_opens(data) in (fmt, "MPO")
    assert image_type(data[:64]) == mime_type


@pytest.mark.parametrize("fmt", ["ICO", "PPM", "TGA", "PCX"])
def test_formats_the_worker_refuses_are_files(fmt):
    buf = io.BytesIO()
    Image.new("RGB", (3, 2), "red").save(buf, fmt)
    assert kind_of(buf.getvalue()[:64], "a.png") == ("file", "image/png")


@pytest.mark.parametrize("head", [b"", b"\xff\xd8", b"BM", b"BM" + b"\x00" * 30, b"RIFF\x00\x00\x00\x00WAVEfmt ",
                                  b"GIF88a", b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"%PDF-1.7", b"MM\x00\x2c"])
def test_lookalikes_are_files_typed_by_their_name(head):
    assert kind_of(head, "notes.txt") == ("file", "text/plain")
    assert kind_of(head, "noext") == ("file", "application/octet-stream")


def test_effective_quota_and_room_left():
    assert effective_quota(None, 0) is None
    assert effective_quota(None, 100) == 100
    assert effective_quota(50, 100) == 50
    assert effective_quota(0, 100) == 0  # the operator's own 0: nothing more
    assert room_left(Usage(30, 20, 100), 0) == 50
    assert room_left(Usage(30, 20, None), 0) is None
    assert room_left(Usage(90, 20, None), 100) == 0


def test_limits_while_streaming_size_first():
    limits = UploadLimits(max_file_size=100, room=150)
    limits.start_file()
    assert limits.add(100)
    limits.end_file()
    limits.start_file()
    assert limits.add(50)
    assert not limits.add(1)  # over the quota: not kept, counted on
    with pytest.raises(TooLarge):  # and over the size too: 413 wins
        limits.add(50)


def test_limits_over_the_quota_only_is_507_at_the_files_end():
    limits = UploadLimits(max_file_size=100, room=10)
    limits.start_file()
    assert not limits.add(11)
    with pytest.raises(QuotaExceeded):
        limits.end_file()


def test_limits_announced():
    limits = UploadLimits(max_file_size=100, room=50)
    with pytest.raises(TooLarge):
        limits.announce(101)  # over both: 413
    with pytest.raises(QuotaExceeded):
        limits.announce(51)
    limits.announce(50)
    UploadLimits(max_file_size=100, room=None).announce(100)
    with pytest.raises(QuotaExceeded):
        limits.announce_form(100, framing=49)  # at least 51 bytes of files
    limits.announce_form(100, framing=50)
    limits.announce_form(101, framing=0)  # one file could be over the size: found out while streaming


async def test_a_blob_writer_hashes_and_keeps_the_head(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 5)
    async with FolderBlobs(tmp_path).writer(batch=64 * 1024) as writer:
        for start in range(0, len(data), 10_000):
            await writer.write(data[start:start + 10_000])
        path = await writer.commit()
    assert Path(path).read_bytes() == data
    assert writer.sha256 == hashlib.sha256(data).hexdigest()
    assert writer.head == data[:64]
    async with FolderBlobs(tmp_path).writer() as empty:
        await empty.commit()
    assert empty.sha256 == hashlib.sha256(b"").hexdigest()
