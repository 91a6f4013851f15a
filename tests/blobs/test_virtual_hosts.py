"""Virtual-host addressing (AWS, R2: `https://<bucket>.<endpoint host>/<key>`)
against moto's server, which takes the bucket from the Host header when the
host is a name under the endpoint's. No such name resolves here, so the
client reaches the server through an HTTP proxy of the test's
(tests/engines/s3.py `s3_proxy`), which sends every request to moto with its
Host header as the client wrote it, and notes each host."""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp

from shared.blob_store import ServedAs
from shared.config import Settings
from shared.open_blobs import open_blob_store
from tests.engines.s3 import S3Bucket, S3Proxy, with_s3

ENDPOINT_HOST = "s3.files-manager.test"  # resolves nowhere: only the proxy knows where it goes


async def test_virtual_host_addressing_puts_the_bucket_in_the_host(
        settings: Settings, s3_bucket: S3Bucket, s3_proxy: S3Proxy):
    port = urlsplit(s3_bucket.server.endpoint).port
    settings = with_s3(settings, s3_bucket).replace(
        storage={"s3_endpoint_url": f"http://{ENDPOINT_HOST}:{port}"}, blobs={"s3_addressing_style": "virtual"})
    async with open_blob_store(settings) as blobs:
        await blobs.check()
        async with blobs.writer() as writer:
            await writer.write(b"hello, virtual host")
            location = await writer.commit()
        assert b"".join([chunk async for chunk in blobs.read(location, 7, 14)]) == b"virtual"
        url = await blobs.presigned_url(location, ServedAs("text/plain", "inline", "private, max-age=0"), 60)
        assert url is not None and urlsplit(url).hostname == f"{s3_bucket.name}.{ENDPOINT_HOST}"
        async with aiohttp.ClientSession() as session, session.get(url, proxy=s3_proxy.url) as resp:
            assert (resp.status, await resp.read()) == (200, b"hello, virtual host")
        await blobs.remove(location)
    assert s3_proxy.hosts and set(s3_proxy.hosts) == {f"{s3_bucket.name}.{ENDPOINT_HOST}:{port}"}
