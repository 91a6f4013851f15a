"""Virtual-host addressing (AWS, R2: `https://<bucket>.<endpoint host>/<key>`)
against moto's server, which takes the bucket from the Host header when the
host is a name under the endpoint's. No such name resolves here, so the
client reaches the server through an HTTP proxy of the test's (HTTP_PROXY,
which botocore honours as every AWS SDK does): the proxy sends every request
to moto with its Host header as the client wrote it, and notes each host."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web

from shared.blob_store import ServedAs
from shared.config import Settings
from shared.open_blobs import open_blob_store
from tests.engines.s3 import S3Bucket, with_s3

ENDPOINT_HOST = "s3.files-manager.test"  # resolves nowhere: only the proxy knows where it goes


@dataclass
class Proxy:
    url: str
    hosts: list[str] = field(default_factory=list)


@pytest.fixture
async def proxy(s3_bucket: S3Bucket, aiohttp_server, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Proxy]:
    target = urlsplit(s3_bucket.server.endpoint)
    hosts: list[str] = []
    session = aiohttp.ClientSession(auto_decompress=False)

    async def forward(request: web.Request) -> web.Response:
        hosts.append(request.headers["Host"])  # what moto reads the bucket from
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("proxy-connection", "connection")}
        async with session.request(request.method, f"http://{target.netloc}{request.rel_url}",
                                   headers=headers, data=await request.read(), allow_redirects=False) as resp:
            body = await resp.read()
            answer = {k: v for k, v in resp.headers.items()
                      if k.lower() not in ("transfer-encoding", "content-length", "connection")}
            return web.Response(status=resp.status, headers=answer, body=body)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", forward)
    server = await aiohttp_server(app)
    url = f"http://127.0.0.1:{server.port}"
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    try:
        yield Proxy(url, hosts)
    finally:
        await session.close()


async def test_virtual_host_addressing_puts_the_bucket_in_the_host(
        settings: Settings, s3_bucket: S3Bucket, proxy: Proxy):
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
        async with aiohttp.ClientSession() as session, session.get(url, proxy=proxy.url) as resp:
            assert (resp.status, await resp.read()) == (200, b"hello, virtual host")
        await blobs.remove(location)
    assert proxy.hosts and set(proxy.hosts) == {f"{s3_bucket.name}.{ENDPOINT_HOST}:{port}"}
