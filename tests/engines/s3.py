"""An S3 endpoint for tests and benchmarks: moto's server mode over HTTP on a
free port (no real S3 server can be had on these machines; the real client,
aiobotocore, talks to it as it would to MinIO or AWS).

`running_s3(folder)` is a context manager any test or benchmark can use; the
fixtures give one server per session (`s3_server`) and a fresh bucket per
test (`s3_bucket`, `s3_settings`, `s3_env`).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web

from shared.config import Settings

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"
PART_SIZE = 5 * 1024 * 1024  # the smallest S3 takes: the tests' uploads go multipart soon


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    env: dict[str, str]  # the standard AWS variables botocore reads


@dataclass(frozen=True)
class S3Bucket:
    server: S3Server
    name: str
    blob_url: str  # s3://bucket/prefix

    @property
    def env(self) -> dict[str, str]:
        """What a service process needs to keep its content in this bucket."""
        return {**self.server.env, "BLOB_URL": self.blob_url, "S3_ENDPOINT_URL": self.server.endpoint,
                "S3_ADDRESSING_STYLE": "path", "BLOBS_PART_SIZE": str(PART_SIZE)}


def _free_port() -> int:
    from tests.conftest import free_port

    return free_port()


def _answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def running_s3(folder: Path, *, start_timeout: float = 30.0) -> Iterator[S3Server]:
    """moto_server on a free port of 127.0.0.1 until the block ends; yields
    its endpoint and the credentials to use (moto takes any)."""
    port = _free_port()
    log = open(folder / "moto.log", "wb")  # noqa: SIM115 (closed below, after the process)
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while not _answers(endpoint):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"moto_server did not start: {(folder / 'moto.log').read_text()[-2000:]}")
            time.sleep(0.05)
        yield S3Server(endpoint, {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                                  "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION})
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def make_bucket(server: S3Server, name: str | None = None) -> str:
    """A new, empty bucket on `server` (blocking); its name."""
    import boto3

    name = name or f"fm-{uuid.uuid4().hex[:16]}"
    client = boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=ACCESS_KEY,
                          aws_secret_access_key=SECRET_KEY, region_name=REGION)
    client.create_bucket(Bucket=name)
    client.close()
    return name


def sync_client(server: S3Server):  # -> botocore S3 client
    """A blocking client for tests to look at the bucket with."""
    import boto3

    return boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, region_name=REGION)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One moto server for the whole run; the credentials are put in this
    process's environment, where botocore looks for them."""
    with running_s3(tmp_path_factory.mktemp("s3")) as server:
        saved = {name: os.environ.get(name) for name in server.env}
        os.environ.update(server.env)
        try:
            yield server
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> S3Bucket:
    """A fresh bucket for the test, content under the prefix `files`."""
    name = make_bucket(s3_server)
    return S3Bucket(s3_server, name, f"s3://{name}/files")


@pytest.fixture
def s3_settings(settings: Settings, s3_bucket: S3Bucket) -> Settings:
    """The test's settings with content in the fresh bucket."""
    return with_s3(settings, s3_bucket)


def with_s3(settings: Settings, bucket: S3Bucket) -> Settings:
    return settings.replace(storage={"blob_url": bucket.blob_url, "s3_endpoint_url": bucket.server.endpoint},
                            blobs={"s3_addressing_style": "path", "part_size": PART_SIZE})


@dataclass
class S3Proxy:
    """An HTTP proxy in front of the test's moto server: every request the test's
    S3 clients send (HTTP_PROXY, which botocore honours as every AWS SDK does)
    goes through it to moto, Host header kept; it notes each (method, Host, path)."""

    url: str
    requests: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def hosts(self) -> list[str]:
        return [host for _, host, _ in self.requests]


@pytest.fixture
async def s3_proxy(s3_bucket: S3Bucket, aiohttp_server, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[S3Proxy]:
    target = urlsplit(s3_bucket.server.endpoint)
    seen: list[tuple[str, str, str]] = []
    session = aiohttp.ClientSession(auto_decompress=False)

    async def forward(request: web.Request) -> web.Response:
        seen.append((request.method, request.headers["Host"], request.rel_url.path))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("proxy-connection", "connection")}
        async with session.request(request.method, f"http://{target.netloc}{request.rel_url}",
                                   headers=headers, data=await request.read(), allow_redirects=False) as resp:
            body = await resp.read()
            dropped = ("transfer-encoding", "connection") if request.method == "HEAD" else (
                "transfer-encoding", "connection", "content-length")  # a HEAD's length is the object's
            answer = {k: v for k, v in resp.headers.items() if k.lower() not in dropped}
            return web.Response(status=resp.status, headers=answer, body=body or None)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", forward)
    server = await aiohttp_server(app)
    url = f"http://127.0.0.1:{server.port}"
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    try:
        yield S3Proxy(url, seen)
    finally:
        await session.close()


_CLIENTS: dict[str, object] = {}


def _client_for(endpoint: str):  # -> a boto3 S3 client, one per endpoint for the run
    import boto3

    if endpoint not in _CLIENTS:
        _CLIENTS[endpoint] = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
                                          aws_secret_access_key=SECRET_KEY, region_name=REGION)
    return _CLIENTS[endpoint]


def s3_where(settings: Settings) -> tuple[object, str, str]:
    from shared.config import blob_location

    bucket, prefix = blob_location(settings.storage.blob_url)
    return _client_for(settings.storage.s3_endpoint_url), bucket, f"{prefix}/" if prefix else ""


def stored_entries(settings: Settings) -> list[str]:
    """Blocking: what the bucket holds under the prefix, as a folder's entries
    would read: each name directly under it (`.uploads` for the tus chunks),
    and `.<name>.multipart` for each multipart upload in progress (the part
    file of an upload being written)."""
    client, bucket, prefix = s3_where(settings)
    names: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):  # type: ignore[attr-defined]
        names.update(item["Key"][len(prefix):].split("/", 1)[0] for item in page.get("Contents", []))
    uploads = client.list_multipart_uploads(Bucket=bucket, Prefix=prefix)  # type: ignore[attr-defined]
    names.update(f".{u['Key'][len(prefix):]}.multipart" for u in uploads.get("Uploads", []))
    return sorted(names)


def stored_bytes(settings: Settings, name: str) -> bytes:
    """Blocking: the object `name` under the prefix (KeyError when missing)."""
    client, bucket, prefix = s3_where(settings)
    try:
        return client.get_object(Bucket=bucket, Key=prefix + name)["Body"].read()  # type: ignore[attr-defined]
    except client.exceptions.NoSuchKey:  # type: ignore[attr-defined]
        raise KeyError(name) from None


def store_bytes(settings: Settings, name: str, data: bytes) -> None:
    client, bucket, prefix = s3_where(settings)
    client.put_object(Bucket=bucket, Key=prefix + name, Body=data)  # type: ignore[attr-defined]


def remove_stored(settings: Settings, name: str) -> None:
    client, bucket, prefix = s3_where(settings)
    client.delete_object(Bucket=bucket, Key=prefix + name)  # type: ignore[attr-defined]
