"""POST /v2/files: folders from JSON, files from a streamed multipart form;
the type from the bytes; and whatever goes wrong (bad input, a truncated
body, a client gone), nothing left behind: no blob, no document, no bytes
counted, no job."""

from __future__ import annotations

import re

import pytest

from services.api.upload_form import FRAMING_LIMIT
from shared.storage import ROOT, NewFile
from tests.conftest import until

from .uploads import (
    big,
    blob_bytes,
    boundary_body,
    field_part,
    file_part,
    folder_entries,
    form,
    image_bytes,
    multipart_headers,
    nothing_left,
    raw_request,
    raw_response,
    server_port,
    sha256,
    thumbnail_jobs,
)

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


async def post_form(client, account, data, **kwargs):
    return await client.post("/v2/files", data=data, headers=account.headers, **kwargs)


async def created(resp) -> list[dict]:
    assert resp.status == 201, await resp.text()
    return (await resp.json())["items"]


async def test_a_file_is_stored_with_its_size_hash_and_type(client, alice, backend_settings, storage):
    content = b"hello, v2\n"
    resp = await post_form(client, alice, form(("hello.txt", content)))
    (doc,) = await created(resp)
    assert set(doc) == {"id", "name", "type", "parentId", "isPublic", "size", "mimeType", "sha256", "createdAt",
                        "updatedAt", "trashedAt", "hasThumbnails"}
    assert {k: doc[k] for k in ("name", "type", "parentId", "isPublic", "size", "mimeType", "sha256",
                                "trashedAt", "hasThumbnails")} == {
        "name": "hello.txt", "type": "file", "parentId": 0, "isPublic": False, "size": len(content),
        "mimeType": "text/plain", "sha256": sha256(content), "trashedAt": None, "hasThumbnails": False}
    assert TIME.fullmatch(doc["createdAt"]) and doc["createdAt"] == doc["updatedAt"]
    (blob,) = folder_entries(backend_settings)
    assert blob_bytes(backend_settings, blob) == content
    assert (await storage.usage(alice.id)).used_bytes == len(content)
    got = await client.get(f"/v2/files/{doc['id']}/content", headers=alice.headers)
    assert await got.read() == content
    assert await thumbnail_jobs(backend_settings) == []


async def test_the_type_comes_from_the_bytes_not_the_name(client, alice, backend_settings):
    photo = image_bytes("hopper.jpg")
    resp = await post_form(client, alice, form(("photo.txt", photo), ("fake.png", b"not a png at all")))
    image, text = await created(resp)
    assert (image["type"], image["mimeType"], image["size"]) == ("image", "image/jpeg", len(photo))
    assert (text["type"], text["mimeType"]) == ("file", "image/png")  # not an image: the name's guess
    assert await thumbnail_jobs(backend_settings) == [{"fileId": image["id"], "userId": alice.id}]


@pytest.mark.parametrize("name, mime_type", [("broken.png", "image/png"), ("decompression_bomb.gif", "image/gif"),
                                             ("truncated_jpeg.jpg", "image/jpeg"), ("hopper.webp", "image/webp")])
async def test_hostile_images_are_images_by_their_bytes(client, alice, name, mime_type, backend_settings):
    """They start as the format says; the worker refuses to decode them
    (test_v2_content.py runs it): an image whose thumbnails never come."""
    (doc,) = await created(await post_form(client, alice, form((name, image_bytes(name)))))
    assert (doc["type"], doc["mimeType"], doc["hasThumbnails"]) == ("image", mime_type, False)
    assert await thumbnail_jobs(backend_settings) == [{"fileId": doc["id"], "userId": alice.id}]


async def test_several_files_one_request_in_a_public_folder(client, alice, storage):
    folder = await client.post("/v2/files", json={"name": "docs", "type": "folder"}, headers=alice.headers)
    assert folder.status == 201
    folder_id = (await folder.json())["id"]
    files = [(f"f{i}.bin", big(1000 * i + 1)) for i in range(3)]
    docs = await created(await post_form(client, alice, form(*files, parentId=folder_id, isPublic="true")))
    assert [(d["name"], d["size"], d["sha256"], d["parentId"], d["isPublic"]) for d in docs] == [
        (name, len(data), sha256(data), folder_id, True) for name, data in files]
    assert (await storage.usage(alice.id)).used_bytes == sum(len(data) for _, data in files)
    anonymous = await client.get(f"/v2/files/{docs[2]['id']}/content")
    assert await anonymous.read() == files[2][1]


async def test_names_are_nfc_and_validated(client, alice, backend_settings, storage):
    (doc,) = await created(await post_form(client, alice, form(("Cafe\u0301.txt", b"x"))))
    assert doc["name"] == "Caf\u00e9.txt"
    for bad in ("..", "a%01b", "%C3%A9" * 128, "a%2Fb", "a%5Cb", "%C2%85"):
        headers = {"Content-Disposition": f"form-data; name=\"file\"; filename*=UTF-8''{bad}"}
        body = boundary_body([(headers, b"x")])
        resp = await client.post("/v2/files", data=body, headers=multipart_headers(alice.token))
        assert resp.status == 400
        assert await resp.json() == {"error": "Invalid name", "code": "invalid"}
    await nothing_left(storage, backend_settings, alice.id, kept=folder_entries(backend_settings), used_bytes=1,
                       files=1)


async def test_a_folder_from_json(client, alice, storage):
    resp = await client.post("/v2/files", json={"name": "Photos", "type": "folder"}, headers=alice.headers)
    assert resp.status == 201
    doc = await resp.json()
    assert {k: doc[k] for k in ("name", "type", "parentId", "isPublic", "size", "mimeType", "sha256")} == {
        "name": "Photos", "type": "folder", "parentId": 0, "isPublic": False, "size": 0, "mimeType": None,
        "sha256": None}
    inner = await client.post("/v2/files", json={"name": "2026", "type": "folder", "parentId": doc["id"],
                                                 "isPublic": True}, headers=alice.headers)
    assert (await inner.json())["parentId"] == doc["id"]
    assert (await storage.usage(alice.id)).used_bytes == 0


@pytest.mark.parametrize("body, message", [
    ({"type": "folder"}, "Invalid name"),
    ({"name": "a/b", "type": "folder"}, "Invalid name"),
    ({"name": "a", "type": "file"}, "Invalid type: only a folder is created from JSON; upload files as "
                                    "multipart/form-data"),
    ({"name": "a"}, "Invalid type: only a folder is created from JSON; upload files as multipart/form-data"),
    ({"name": "a", "type": "folder", "parentId": "0123456789abcdef01234567"}, "Parent not found"),
    ({"name": "a", "type": "folder", "parentId": "../x"}, "Parent not found"),
    ({"name": "a", "type": "folder", "parentId": 7}, "Parent not found"),
    ({"name": "a", "type": "folder", "isPublic": "yes"}, "Invalid isPublic: expected true or false"),
    ({"name": "a", "type": "folder", "data": "aGk="}, "Unknown field: data (use name, type, parentId, isPublic)"),
])
async def test_bad_folders_are_400s_and_change_nothing(client, alice, body, message, storage, backend_settings):
    resp = await client.post("/v2/files", json=body, headers=alice.headers)
    assert resp.status == 400
    assert await resp.json() == {"error": message, "code": "invalid"}
    await nothing_left(storage, backend_settings, alice.id)


async def test_a_file_is_not_a_parent_and_another_users_folder_is_not_found(client, alice, bob, storage,
                                                                              backend_settings):
    (doc,) = await created(await post_form(client, alice, form(("a.txt", b"abc"))))
    bobs = await storage.create_file(NewFile(bob.id, "bob's", "folder", False, ROOT, None, size=0))
    kept = folder_entries(backend_settings)
    for parent, message in ((doc["id"], "Parent is not a folder"), (bobs.id, "Parent not found"),
                            ("zz", "Parent not found")):
        resp = await post_form(client, alice, form(("b.txt", b"more"), parentId=parent))
        assert resp.status == 400
        assert (await resp.json())["error"] == message
        resp = await client.post("/v2/files", json={"name": "f", "type": "folder", "parentId": parent},
                                 headers=alice.headers)
        assert (await resp.json())["error"] == message
    await nothing_left(storage, backend_settings, alice.id, kept=kept, used_bytes=3, files=2)


@pytest.mark.parametrize("parts, message", [
    ([], "Missing file"),
    ([field_part("parentId", "0")], "Missing file"),
    ([field_part("note", "x"), file_part("a.txt", b"x")], "Unknown field: note (use parentId, isPublic, file)"),
    ([file_part("a.txt", b"x"), file_part("b.txt", b"y", name="files")],
     "Unknown field: files (use parentId, isPublic, file)"),
    ([file_part(None, b"no filename")], "Missing filename"),
    ([file_part("a.txt", b"x"), field_part("parentId", "0")],
     "Invalid multipart body: parentId and isPublic come before the files"),
    ([field_part("isPublic", "maybe"), file_part("a.txt", b"x")], "Invalid isPublic: expected true or false"),
    ([file_part("a.txt", b"x"), file_part(None, b"y")], "Missing filename"),
])
async def test_bad_forms_are_400s_and_leave_nothing(client, alice, parts, message, storage, backend_settings):
    resp = await client.post("/v2/files", data=boundary_body(parts), headers=multipart_headers(alice.token))
    assert resp.status == 400
    assert await resp.json() == {"error": message, "code": "invalid"}
    await nothing_left(storage, backend_settings, alice.id)


@pytest.mark.parametrize("body", [
    boundary_body([file_part("a.bin", big(300_000))], close=False),  # no closing boundary
    boundary_body([file_part("a.bin", big(300_000))])[:-100],  # cut in the middle of the last boundary
    boundary_body([file_part("a.bin", b"x" * 10)], boundary="other"),  # not the announced boundary
    b"no multipart at all",
], ids=["unclosed", "cut", "other-boundary", "garbage"])
async def test_a_truncated_or_malformed_body_is_400_and_leaves_nothing(client, alice, body, storage,
                                                                       backend_settings):
    resp = await client.post("/v2/files", data=body, headers=multipart_headers(alice.token))
    assert resp.status == 400
    assert (await resp.json())["error"].startswith("Invalid multipart body: ")
    await nothing_left(storage, backend_settings, alice.id)


async def test_a_multipart_type_without_boundary_or_an_unknown_type_is_refused(client, alice, storage,
                                                                              backend_settings):
    resp = await client.post("/v2/files", data=b"x", headers={**alice.headers, "Content-Type": "multipart/form-data"})
    assert resp.status == 400
    resp = await client.post("/v2/files", data=b"x", headers={**alice.headers, "Content-Type": "text/csv"})
    assert resp.status == 415
    assert (await resp.json())["code"] == "unsupported_media_type"
    await nothing_left(storage, backend_settings, alice.id)


async def test_unauthorized_before_the_body_is_read(client):
    resp = await client.post("/v2/files", data=form(("a.txt", b"x")))
    assert resp.status == 401
    assert await resp.json() == {"error": "Unauthorized", "code": "unauthorized"}


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_client_gone_mid_upload_leaves_nothing(client, alice, chunked, storage, backend_settings):
    """The second file is half sent when the connection drops: the first,
    complete and committed, goes too."""
    size = part_past(backend_settings, 3 * 1024 * 1024)
    first = file_part("first.bin", big(size))
    body = boundary_body([first, file_part("second.bin", big(size))])
    cut = len(body) - 1024 * 1024
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}"
    _, writer = await raw_request(server_port(client, backend_settings),
                                  f"POST /v2/files HTTP/1.1\r\nHost: x\r\nX-Token: {alice.token}\r\n"
                                  f"Content-Type: multipart/form-data; boundary=b0undary\r\n{length}\r\n\r\n")
    writer.write(b"%x\r\n%s\r\n" % (cut, body[:cut]) if chunked else body[:cut])
    await writer.drain()
    # the first file committed, the second on its way
    await until(lambda: len(folder_entries(backend_settings)) == 2, "two files on disk")
    writer.transport.abort()
    await until(lambda: folder_entries(backend_settings) == [], "everything removed")
    await nothing_left(storage, backend_settings, alice.id)


async def test_the_content_reaches_the_disk_before_the_body_ends(client, alice, storage, backend_settings):
    content = big(part_past(backend_settings, 4 * 1024 * 1024))
    body = boundary_body([file_part("big.bin", content)])
    reader, writer = await raw_request(server_port(client, backend_settings),
                                       f"POST /v2/files HTTP/1.1\r\nHost: x\r\nX-Token: {alice.token}\r\n"
                                       f"Content-Type: multipart/form-data; boundary=b0undary\r\n"
                                       f"Content-Length: {len(body)}\r\n\r\n")
    writer.write(body[:len(body) // 2])
    await writer.drain()
    await until(lambda: growing(backend_settings), "a growing part file")
    writer.write(body[len(body) // 2:])
    status, _, answer = await raw_response(reader)
    writer.close()
    assert status == 201, answer
    assert (await storage.usage(alice.id)).used_bytes == len(content)


def _raw_part(head: bytes, content: bytes) -> bytes:
    return b"--b0undary\r\n" + head + b"\r\n\r\n" + content + b"\r\n"


HOSTILE_FORMS = {
    "nested multipart": _raw_part(b'Content-Disposition: form-data; name="file"\r\n'
                                  b"Content-Type: multipart/mixed; boundary=inner",
                                  b"--inner\r\nContent-Disposition: file; filename=\"a.txt\"\r\n\r\nx\r\n--inner--"),
    "base64 part": _raw_part(b'Content-Disposition: form-data; name="file"; filename="a.txt"\r\n'
                             b"Content-Transfer-Encoding: base64", b"aGk="),
    "gzip part": _raw_part(b'Content-Disposition: form-data; name="file"; filename="a.txt"\r\n'
                           b"Content-Encoding: gzip", b"\x1f\x8b"),
    "long header": _raw_part(b'Content-Disposition: form-data; name="file"; filename="' + b"a" * 9000 + b'"', b"x"),
    "many headers": _raw_part(b'Content-Disposition: form-data; name="file"; filename="a"\r\n'
                              + b"\r\n".join(b"X-H%d: v" % i for i in range(200)), b"x"),
    "junk before": b"junk line\r\n" * 200_000 + _raw_part(b'Content-Disposition: form-data; name="file"; '
                                                          b'filename="a"', b"x"),
    "invalid utf-8 filename": _raw_part(b'Content-Disposition: form-data; name="file"; filename="\xff\xfe"', b"x"),
    "invalid utf-8 name": _raw_part(b'Content-Disposition: form-data; name="\xed\xa0\x80"; filename="a"', b"x"),
    "charset part": _raw_part(b'Content-Disposition: form-data; name="_charset_"', b"x" * 40),
    "no disposition": _raw_part(b"Content-Type: text/plain", b"x"),
    "bad isPublic bytes": _raw_part(b'Content-Disposition: form-data; name="isPublic"', b"\xff"),
    "huge field": _raw_part(b'Content-Disposition: form-data; name="parentId"', b"0" * 5000),
}


@pytest.mark.parametrize("body", HOSTILE_FORMS.values(), ids=HOSTILE_FORMS.keys())
async def test_hostile_forms_are_400s_and_leave_nothing(client, alice, body, storage, backend_settings):
    resp = await client.post("/v2/files", data=body + b"--b0undary--\r\n", headers=multipart_headers(alice.token))
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["code"] == "invalid"
    await nothing_left(storage, backend_settings, alice.id)


async def test_bytes_outside_the_files_are_limited(client, alice, storage, backend_settings):
    """Past FRAMING_LIMIT bytes besides the files' (here a preamble), a form is refused as it arrives."""
    resp = await client.post("/v2/files", data=HOSTILE_FORMS["junk before"] + b"--b0undary--\r\n",
                             headers=multipart_headers(alice.token))
    assert resp.status == 400
    assert await resp.json() == {"error": f"Invalid multipart body: more than {FRAMING_LIMIT} bytes outside the files",
                                 "code": "invalid"}
    await nothing_left(storage, backend_settings, alice.id)


async def test_a_boundary_over_70_characters_is_refused(client, alice):
    boundary = "b" * 71
    resp = await client.post("/v2/files", data=boundary_body([file_part("a", b"x")], boundary=boundary),
                             headers=multipart_headers(alice.token, boundary))
    assert resp.status == 400


def part_past(settings, size: int) -> int:
    """`size`, or with blobs in S3 enough for a part to be sent before the
    body ends (S3 sees nothing of an upload before its first part)."""
    return max(size, 2 * settings.blobs.part_size + 1024 * 1024) if settings.storage.blob_url else size


def growing(settings) -> bool:
    """Some content is stored already: a part file of 1 MiB, or a multipart upload begun."""
    if settings.storage.blob_url:
        return any(name.endswith(".multipart") for name in folder_entries(settings))
    folder = settings.storage.folder_path
    return any(p.stat().st_size >= 1024 * 1024 for p in folder.iterdir()) if folder.exists() else False
