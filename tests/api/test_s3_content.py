"""Content in an S3 bucket (moto's server over HTTP), what only an object
store has: multipart uploads aborted when the client goes, downloads as a
302 to a presigned URL, /readyz asking the bucket. (Everything else runs on
S3 too: the `s3` backend of tests/api/conftest.py.)"""

from __future__ import annotations

import aiohttp
import pytest

from services.api.app import create_app
from services.api.content_headers import CONTENT_SECURITY_POLICY
from services.api.edge import RUNNER_OPTIONS
from shared.config import Settings
from tests.conftest import until
from tests.engines.s3 import S3Bucket, stored_entries, sync_client

from .conftest import sign_up
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
