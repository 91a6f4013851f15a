"""GET /files/:id/data serves uploaded content so that it can never run in the
service's origin (api-v2.md, "Serving content safely"): nosniff, a CSP
sandbox, inline only for types shown without running code, RFC 6266 names."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from services.api.content_headers import MAX_FILENAME_BYTES, content_disposition

from .conftest import b64, upload
from .uploads import folder_entries, put_blob

CSP = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'"
DISPOSITION = re.compile(
    r"""(inline|attachment); filename="([ !#-\[\]-~]*)"; filename\*=UTF-8''([A-Za-z0-9!#$&+\-.^_`|~%]*)""")


def parse_disposition(value: str) -> tuple[str, str, str]:
    """(kind, ASCII fallback, exact name): fails unless the header is valid RFC 6266."""
    match = DISPOSITION.fullmatch(value)
    assert match, value
    return match.group(1), match.group(2), unquote(match.group(3), errors="strict")


async def get_data(client, created, headers=None, **params):
    return await client.get(f"/files/{created['id']}/data", params=params, headers=headers or {})


@pytest.mark.parametrize("name, content_type", [("evil.html", "text/html"), ("x.svg", "image/svg+xml")])
async def test_public_html_and_svg_are_attachments_in_a_sandbox(client, alice, name, content_type):
    created = await upload(client, alice, name=name, type="file", isPublic=True,
                           data=b64(b"<svg onload=alert(document.cookie)><script>alert(1)</script>"))
    resp = await get_data(client, created)  # anonymous, as a victim's browser would
    assert resp.status == 200
    assert resp.headers["Content-Type"] == content_type  # the v1 rule stays, without charset
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Security-Policy"] == CSP
    assert parse_disposition(resp.headers["Content-Disposition"]) == ("attachment", name, name)


@pytest.mark.parametrize("name, kind", [
    ("a.png", "inline"), ("a.jpg", "inline"), ("a.gif", "inline"), ("a.webp", "inline"),
    ("a.bmp", "inline"), ("a.avif", "inline"), ("notes.txt", "inline"), ("song.mp3", "inline"),
    ("clip.mp4", "inline"), ("page.htm", "attachment"), ("feed.xml", "attachment"),
    ("app.js", "attachment"), ("doc.pdf", "attachment"), ("data.json", "attachment"),
    ("noext", "attachment"), ("weird.zzqx", "attachment"), ("icon.ico", "attachment"),
])
async def test_inline_only_for_types_shown_without_running_code(client, alice, name, kind):
    created = await upload(client, alice, name=name, type="file", data=b64(b"x"))
    resp = await get_data(client, created, alice.headers)
    assert parse_disposition(resp.headers["Content-Disposition"])[0] == kind
    assert resp.headers["Content-Security-Policy"] == CSP
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_download_forces_attachment(client, alice):
    created = await upload(client, alice, name="a.png", type="file", data=b64(b"x"))
    for value, kind in (("1", "attachment"), ("true", "attachment"), ("0", "inline")):
        resp = await get_data(client, created, alice.headers, download=value)
        assert parse_disposition(resp.headers["Content-Disposition"])[0] == kind
    resp = await get_data(client, created, alice.headers, download="yes")
    assert resp.status == 400
    assert await resp.json() == {"error": "Invalid download: use 1 or 0"}


@pytest.mark.parametrize("name", [
    'say "hi".txt', "back\\slash.txt", "tab\there.txt", "new\nline\r\n.txt", "nul\x00.txt", "del\x7f.txt",
    "été à Noël.txt", "日本語.txt", "😀.png", "100% sure.txt", "semi;colon, comma.txt", "'quoted'.txt",
    "é" * 127 + ".txt",  # 258 bytes
])
async def test_any_name_gives_a_valid_header_with_the_exact_name(client, alice, name):
    created = await upload(client, alice, name=name, type="file", data=b64(b"x"))
    resp = await get_data(client, created, alice.headers)
    assert resp.status == 200
    _, fallback, exact = parse_disposition(resp.headers["Content-Disposition"])
    assert fallback.isascii() and '"' not in fallback and "\\" not in fallback and "%" not in fallback
    if len(name.encode()) <= MAX_FILENAME_BYTES:
        assert exact == name
    else:
        assert name.startswith(exact[:-4]) and exact.endswith(".txt")
        assert len(exact.encode()) <= MAX_FILENAME_BYTES


def test_long_names_are_shortened_on_a_character_boundary_keeping_the_extension():
    for name in ("😀" * 300 + ".jpeg", "a" * 2000, "x" * 300 + ".averyveryverylongextension"):
        _, fallback, exact = parse_disposition(content_disposition(name, inline=False))
        assert len(exact.encode()) <= MAX_FILENAME_BYTES
        assert name.startswith(exact) or (exact.endswith(".jpeg") and name.startswith(exact[:-5]))
    _, fallback, exact = parse_disposition(content_disposition("", inline=True))
    assert exact == fallback == "download"
    _, fallback, _ = parse_disposition(content_disposition("été", inline=True))
    assert fallback == "ete"


async def test_a_thumbnail_is_served_inline_as_an_image(client, alice, backend_settings):
    image = await upload(client, alice, name="photo.jpg", type="image", data=b64(b"\xff\xd8original"))
    (blob,) = folder_entries(backend_settings)
    put_blob(backend_settings, f"{blob}_100", b"\xff\xd8thumb")
    resp = await get_data(client, image, alice.headers, size="100")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "image/jpeg"
    assert parse_disposition(resp.headers["Content-Disposition"]) == ("inline", "photo.jpg", "photo.jpg")
    assert resp.headers["Content-Security-Policy"] == CSP
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_partial_not_modified_and_unsatisfiable_answers_keep_the_headers(client, alice):
    created = await upload(client, alice, name="evil.html", type="file", data=b64(b"<script>x</script>" * 10))
    full = await get_data(client, created, alice.headers)
    partial = await get_data(client, created, {**alice.headers, "Range": "bytes=0-9"})
    assert partial.status == 206
    assert partial.headers["Content-Type"] == "text/html"
    assert parse_disposition(partial.headers["Content-Disposition"])[0] == "attachment"
    not_modified = await get_data(client, created, {**alice.headers, "If-None-Match": full.headers["ETag"]})
    assert not_modified.status == 304
    assert not_modified.headers["ETag"] == full.headers["ETag"]
    assert not_modified.headers["Cache-Control"] == "private, max-age=0"
    unsatisfiable = await get_data(client, created, {**alice.headers, "Range": "bytes=100000-"})
    assert unsatisfiable.status == 416
    assert unsatisfiable.headers["Content-Range"] == "bytes */180"
    for resp in (partial, not_modified, unsatisfiable):
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Content-Security-Policy"] == CSP
