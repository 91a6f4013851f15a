"""Content in an S3 bucket (moto's server over HTTP), what only an object
store has: multipart uploads aborted when the client goes, downloads as a
302 to a presigned URL, /readyz asking the bucket, tus uploads whose chunks
live in the bucket (resumed through another node, one writer at a time, a
dead writer's chunk passed over, expired ones purged). (Everything else runs
on S3 too: the `s3` backend of tests/api/conftest.py.)"""

from __future__ import annotations

import aiohttp
import pytest

from services.api.app import create_app
from services.api.content_headers import CONTENT_SECURITY_POLICY
from services.api.edge import RUNNER_OPTIONS
from services.api.keys import REDIS
from shared.config import Settings
from tests.conftest import until
from tests.engines.s3 import S3Bucket, S3Proxy, store_bytes, stored_entries, sync_client

from .conftest import sign_up
from .share_links import new_link
from .tus_support import file_of, new_upload, offset_of, patch
from .uploads import big, boundary_body, file_part, form, raw_request, sha256


@pytest.fixture
async def s3_client(aiohttp_client, aiohttp_server, s3_settings: Settings):
    return await aiohttp_client(await aiohttp_server(create_app(s3_settings), **RUNNER_OPTIONS))


@pytest.fixture
async def redirecting(aiohttp_client, aiohttp_server, s3_settings: Settings):
    settings = s3_settings.replace(blobs={"redirect_downloads": True, "presign_expiry": 120})
    return await aiohttp_client(await aiohttp_server(create_app(settings), **RUNNER_OPTIONS))


def _uploads_in_progress(bucket: S3Bucket) -> list[dict]:
    return sync_client(bucket.server).list_multipart_uploads(Bucket=bucket.name).get("Uploads", [])


def _objects(bucket: S3Bucket) -> list[str]:
    return [o["Key"] for o in sync_client(bucket.server).list_objects_v2(Bucket=bucket.name).get("Contents", [])]


async def test_a_client_gone_mid_upload_leaves_no_parts_and_no_object(s3_client, s3_bucket: S3Bucket, s3_settings):
    account = await sign_up(s3_client)
    body = boundary_body([file_part("big.bin", big(20 * 1024 * 1024))])
    _, writer = await raw_request(s3_client.server.port,
                                  f"POST /v2/files HTTP/1.1\r\nHost: x\r\nX-Token: {account.token}\r\n"
                                  f"Content-Type: multipart/form-data; boundary=b0undary\r\n"
                                  f"Content-Length: {len(body)}\r\n\r\n")
    writer.write(body[:12 * 1024 * 1024])  # two parts of 5 MiB sent, the third on its way
    await writer.drain()
    await until(lambda: _uploads_in_progress(s3_bucket) != [], "a multipart upload begun")
    writer.transport.abort()
    await until(lambda: _uploads_in_progress(s3_bucket) == [], "the multipart upload aborted")
    assert _objects(s3_bucket) == []
    assert stored_entries(s3_settings) == []


async def test_a_large_upload_goes_multipart_and_comes_back_whole(s3_client, s3_bucket: S3Bucket):
    account = await sign_up(s3_client)
    content = big(11 * 1024 * 1024 + 3)  # three parts: 5, 5 and 1 MiB and 3 bytes
    resp = await s3_client.post("/v2/files", data=form(("big.bin", content)), headers=account.headers)
    assert resp.status == 201, await resp.text()
    doc = (await resp.json())["items"][0]
    assert (doc["size"], doc["sha256"]) == (len(content), sha256(content))
    (key,) = _objects(s3_bucket)
    head = sync_client(s3_bucket.server).head_object(Bucket=s3_bucket.name, Key=key)
    assert head["ETag"].strip('"').endswith("-3")  # S3's mark of a three-part upload
    resp = await s3_client.get(f"/v2/files/{doc['id']}/content", headers=account.headers)
    assert await resp.read() == content
    resp = await s3_client.get(f"/v2/files/{doc['id']}/content",
                               headers={**account.headers, "Range": "bytes=-5"})
    assert (resp.status, await resp.read()) == (206, content[-5:])
    assert resp.headers["Content-Range"] == f"bytes {len(content) - 5}-{len(content) - 1}/{len(content)}"
    resp = await s3_client.get(f"/v2/files/{doc['id']}/content",
                               headers={**account.headers, "Range": f"bytes={len(content)}-"})
    assert (resp.status, resp.headers["Content-Range"]) == (416, f"bytes */{len(content)}")
    first = await s3_client.get(f"/v2/files/{doc['id']}/content", headers={**account.headers, "Range": "bytes=0-0"})
    assert (first.status, await first.read()) == (206, content[:1])
    last = first.headers["Last-Modified"]
    resp = await s3_client.get(f"/v2/files/{doc['id']}/content",
                               headers={**account.headers, "If-Modified-Since": last})
    assert resp.status == 304


async def test_downloads_redirect_to_a_presigned_url_with_the_safe_headers(redirecting):
    account = await sign_up(redirecting)
    resp = await redirecting.post("/v2/files", data=form(("page.html", b"<script>alert(1)</script>")),
                                  headers=account.headers)
    doc = (await resp.json())["items"][0]
    for url, disposition in ((f"/v2/files/{doc['id']}/content", "attachment"),
                             (f"/files/{doc['id']}/data", "attachment")):
        resp = await redirecting.get(url, headers=account.headers, allow_redirects=False)
        assert resp.status == 302
        assert resp.headers["Cache-Control"] == "private, no-store"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        async with aiohttp.ClientSession() as session, session.get(resp.headers["Location"]) as followed:
            assert followed.status == 200
            assert await followed.read() == b"<script>alert(1)</script>"
            assert followed.headers["Content-Type"].startswith("text/html")
            assert followed.headers["Content-Disposition"].startswith(disposition)
            assert followed.headers["Cache-Control"] == "private, max-age=0"
    # A share link's content too, for anyone with the link; each redirect counts as a download.
    link = await new_link(redirecting, account, doc["id"], maxDownloads=1)
    resp = await redirecting.get(link["url"], params={"download": "1"}, allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    async with aiohttp.ClientSession() as session, session.get(resp.headers["Location"]) as followed:
        assert (followed.status, await followed.read()) == (200, b"<script>alert(1)</script>")
        assert followed.headers["Content-Disposition"].startswith("attachment")
    resp = await redirecting.get(link["url"], params={"download": "1"}, allow_redirects=False)
    assert resp.status == 410
    # What is not there is still the API's 404, not the store's.
    resp = await redirecting.get(f"/v2/files/{doc['id']}/content", params={"size": "100"},
                                 headers=account.headers, allow_redirects=False)
    assert resp.status == 404


async def test_readyz_asks_the_bucket(s3_client, s3_bucket: S3Bucket):
    resp = await s3_client.get("/readyz")
    assert (resp.status, (await resp.json())["blobs"]) == (200, True)
    sync_client(s3_bucket.server).delete_bucket(Bucket=s3_bucket.name)
    resp = await s3_client.get("/readyz")
    assert (resp.status, (await resp.json())["blobs"]) == (503, False)


# ---------------------------------------------------------------- tus on S3: nothing on the node


@pytest.fixture
async def two_nodes(aiohttp_client, aiohttp_server, s3_settings: Settings, tmp_path):
    """Two API nodes on one database, one Redis and one bucket, each with a
    folder of its own (which neither may need)."""
    nodes = []
    for name in ("a", "b"):
        settings = s3_settings.replace(storage={"folder_path": tmp_path / f"node-{name}"})
        nodes.append(await aiohttp_client(await aiohttp_server(create_app(settings), **RUNNER_OPTIONS)))
    return nodes


async def test_an_upload_begun_on_one_node_is_finished_on_another(two_nodes, s3_bucket: S3Bucket, tmp_path):
    a, b = two_nodes
    account = await sign_up(a)
    content = big(12 * 1024 * 1024 + 5)  # chunks past a part: multipart chunks
    url = await new_upload(a, account, len(content), "moved.bin")
    first = await patch(a, account, url, 0, content[:7 * 1024 * 1024])
    assert first.status == 204, await first.text()
    assert await offset_of(b, account, url) == 7 * 1024 * 1024
    last = await patch(b, account, url, 7 * 1024 * 1024, content[7 * 1024 * 1024:])
    assert last.status == 204, await last.text()
    document = await file_of(a, account, last.headers["File-Id"])
    assert (document["size"], document["sha256"]) == (len(content), sha256(content))
    resp = await a.get(f"/v2/files/{document['id']}/content", headers=account.headers)
    assert await resp.read() == content
    assert not any(key.startswith("files/.uploads/") for key in _objects(s3_bucket))  # the chunks went
    assert _uploads_in_progress(s3_bucket) == []
    assert not any((tmp_path / f"node-{n}").exists() for n in "ab")  # nothing on either node


async def test_a_second_writer_on_another_node_is_refused_while_the_first_streams(two_nodes, s3_bucket):
    a, b = two_nodes
    account = await sign_up(a)
    url = await new_upload(a, account, 10)
    _, writer = await raw_request(a.server.port, f"PATCH {url} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n"
                                                 f"X-Token: {account.token}\r\nUpload-Offset: 0\r\n"
                                                 "Content-Type: application/offset+octet-stream\r\n"
                                                 "Content-Length: 10\r\n\r\n01234")
    await until(lambda: _writer_held(a, url), "the first PATCH to hold the upload")
    resp = await patch(b, account, url, 0, b"abcdefghij")
    assert resp.status == 409
    writer.close()  # gone mid-chunk: what arrived is kept
    await until(lambda: _offset_is(b, account, url, 5), "the first PATCH's bytes counted")
    resp = await patch(b, account, url, 5, b"56789")
    assert resp.status == 204
    document = await file_of(b, account, resp.headers["File-Id"])
    assert document["sha256"] == sha256(b"0123456789")


async def test_a_chunk_its_writer_died_with_is_passed_over(two_nodes, s3_bucket: S3Bucket, s3_settings):
    """A writer killed between storing its chunk and moving the offset: the
    offset never covered it, and the next writer's chunks make the file."""
    a, b = two_nodes
    account = await sign_up(a)
    content = b"the real content."
    url = await new_upload(a, account, len(content))
    upload_id = url.rsplit("/", 1)[1]
    store_bytes(s3_settings, f".uploads/{upload_id}/{0:020d}-dead", b"stale bytes, 21 long")
    assert (await patch(a, account, url, 0, content[:5])).status == 204
    resp = await patch(b, account, url, 5, content[5:])
    assert resp.status == 204
    got = await b.get(f"/v2/files/{resp.headers['File-Id']}/content", headers=account.headers)
    assert await got.read() == content
    assert not any("/.uploads/" in key for key in _objects(s3_bucket))


async def test_expired_uploads_lose_their_chunks(s3_client, s3_settings: Settings, s3_bucket: S3Bucket):
    """The worker's purge of an upload past its expiry removes its chunks from the bucket."""
    import time

    from services.worker.control import Control
    from services.worker.purger import Purger
    from shared.enqueuer import Enqueuer
    from shared.logging import get_logger
    from shared.open_blobs import open_blob_store
    from shared.redis_client import open_redis
    from shared.s3_upload_parts import parts_location
    from shared.storage import Upload, open_storage

    account = await sign_up(s3_client)
    storage, redis = await open_storage(s3_settings.storage.db_url), open_redis(s3_settings.redis.url)
    try:
        async with open_blob_store(s3_settings) as blobs:
            now = time.time()
            upload_id = "5f0c2b7e9a1d3c4b5a6f7e8d"
            await storage.create_upload(Upload(
                id=upload_id, user_id=account.id, length=10, offset=5, name="old", parent_id=0, is_public=False,
                part_path=parts_location(blobs, upload_id), created_at=now - 100, expires_at=now - 1), None)
            store_bytes(s3_settings, f".uploads/{upload_id}/{0:020d}-a", b"01234")
            purger = Purger(storage, redis, Enqueuer(redis), s3_settings, Control(get_logger("test"), 1.0), blobs)
            assert await purger.expired_uploads() == 1
    finally:
        await storage.close()
        await redis.aclose()
    assert _objects(s3_bucket) == []


async def _writer_held(node, url: str) -> bool:
    from shared.upload_lock import lock_key

    return bool(await node.app[REDIS].exists(lock_key(url.rsplit("/", 1)[1])))


async def _offset_is(node, account, url: str, offset: int) -> bool:
    return await offset_of(node, account, url) == offset


async def test_a_plain_download_is_one_request_to_the_store(aiohttp_client, aiohttp_server, s3_settings: Settings,
                                                            s3_proxy: S3Proxy):
    """A GET with no condition and no range: one GetObject, whose answer says
    the size, ETag and date; a ranged or conditional one asks HeadObject
    first, to decide between 200, 206, 304, 412 and 416."""
    client = await aiohttp_client(await aiohttp_server(create_app(s3_settings), **RUNNER_OPTIONS))
    account = await sign_up(client)
    resp = await client.post("/v2/files", data=form(("a.txt", b"0123456789")), headers=account.headers)
    file_id = (await resp.json())["items"][0]["id"]

    def store_requests() -> list[str]:
        done = [method for method, _, path in s3_proxy.requests if path.count("/") > 1]  # an object's, not a bucket's
        s3_proxy.requests.clear()
        return done

    store_requests()
    resp = await client.get(f"/files/{file_id}/data", headers=account.headers)
    assert (resp.status, await resp.read()) == (200, b"0123456789")
    etag = resp.headers["ETag"]
    assert store_requests() == ["GET"]
    resp = await client.get(f"/files/{file_id}/data", headers={**account.headers, "Range": "bytes=2-4"})
    assert (resp.status, await resp.read()) == (206, b"234")
    assert store_requests() == ["HEAD", "GET"]
    resp = await client.get(f"/files/{file_id}/data", headers={**account.headers, "If-None-Match": etag})
    assert resp.status == 304
    assert store_requests() == ["HEAD"]
