"""/v2/uploads driven by tus clients no one here wrote: tuspy (the tus
project's Python client) and tus-js-client (its JavaScript client, run by
Node through tests/tus_js/upload.mjs). Each uploads a file in chunks, is
interrupted, and a new client resumes it (by the stored URL or the file's
fingerprint); the file is then checked through /v2/files/:id (size, sha256)
and its bytes. The service restarted between chunks is one of the cases."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from tusclient import client as tus_client
from tusclient.storage.filestorage import FileStorage

from tests.conftest import free_port

from .conftest import Account, running_service, sign_up
from .tus_support import assert_file, base_url, offset_of, tus

TUS_JS = Path(__file__).resolve().parents[1] / "tus_js"
CHUNK = 256 * 1024


def a_file(folder: Path, size: int, name: str = "movie.bin") -> tuple[Path, bytes]:
    content = os.urandom(size)
    path = folder / name
    path.write_bytes(content)
    return path, content


def tuspy_upload(endpoint: str, account: Account, path: Path, urls: Path, stop_at: int | None = None,
                 **options) -> tuple[int, str | None, str]:
    """Blocking (tuspy speaks `requests`): upload `path`, resuming the upload
    tuspy stored for this file in `urls` if any, up to `stop_at`. Returns
    (the offset tuspy started from, File-Id of the last answer, upload URL)."""
    client = tus_client.TusClient(endpoint, headers={"X-Token": account.token})
    uploader = client.uploader(file_path=str(path), chunk_size=CHUNK, metadata={"filename": path.name},
                               store_url=True, url_storage=FileStorage(str(urls)), **options)
    started_at = uploader.offset
    uploader.upload(stop_at=stop_at)
    headers = uploader.request.response_headers if uploader.request is not None else {}
    return started_at, headers.get("file-id"), uploader.url


async def test_tuspy_interrupted_and_resumed_by_fingerprint(client, alice: Account, tmp_path: Path):
    path, content = a_file(tmp_path, 5 * CHUNK + 1000)
    endpoint = base_url(client) + "/v2/uploads"
    urls = tmp_path / "tuspy-urls.json"
    started, file_id, url = await asyncio.to_thread(tuspy_upload, endpoint, alice, path, urls, 2 * CHUNK)
    assert (started, file_id) == (0, None)
    assert await offset_of(client, alice, url.removeprefix(base_url(client))) == 2 * CHUNK
    # A new client, a new process for all it knows: it finds the upload by the file's fingerprint.
    started, file_id, again = await asyncio.to_thread(tuspy_upload, endpoint, alice, path, urls)
    assert (started, again) == (2 * CHUNK, url)
    assert file_id is not None
    await assert_file(client, alice, file_id, content, "movie.bin")


async def test_tuspy_with_checksums(client, alice: Account, tmp_path: Path):
    path, content = a_file(tmp_path, 3 * CHUNK - 5, "checked.bin")
    endpoint = base_url(client) + "/v2/uploads"
    _, file_id, _ = await asyncio.to_thread(tuspy_upload, endpoint, alice, path, tmp_path / "urls.json",
                                            upload_checksum=True)
    await assert_file(client, alice, file_id, content, "checked.bin")


async def test_tuspy_resumes_after_the_service_restarted(redis_url: str, tmp_path: Path):
    """The live supervisor stopped and started again between chunks, on the
    same folder and database: the upload goes on where it was, and the
    whole file's sha256 (no longer in any process's memory) is still right."""
    import aiohttp

    path, content = a_file(tmp_path, 4 * CHUNK + 3, "across-restart.bin")
    urls = tmp_path / "urls.json"
    folder = tmp_path / "service"
    folder.mkdir()
    port = str(free_port())
    with running_service(folder, redis_url, PORT=port) as live:
        async with aiohttp.ClientSession(base_url=live.url) as session:
            account = await sign_up(session)  # type: ignore[arg-type]
        _, file_id, url = await asyncio.to_thread(tuspy_upload, live.url + "/v2/uploads", account, path, urls,
                                                  2 * CHUNK)
        assert file_id is None
    with running_service(folder, redis_url, PORT=port) as live:
        async with aiohttp.ClientSession(base_url=live.url) as session:
            upload_path = url.removeprefix(live.url)
            assert await offset_of(session, account, upload_path) == 2 * CHUNK
            started, file_id, again = await asyncio.to_thread(tuspy_upload, live.url + "/v2/uploads", account,
                                                              path, urls)
            assert (started, again) == (2 * CHUNK, url)
            await assert_file(session, account, file_id, content, "across-restart.bin")


async def tus_js(**options) -> list[dict]:
    """Run tests/tus_js/upload.mjs with `options`; its events, in order."""
    if not (TUS_JS / "node_modules" / "tus-js-client").is_dir():
        pytest.fail("tus-js-client is not installed: run scripts/bootstrap --test (npm ci --prefix tests/tus_js)")
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: run scripts/bootstrap --test")
    proc = await asyncio.create_subprocess_exec(
        node, str(TUS_JS / "upload.mjs"), json.dumps(options),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    events = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert proc.returncode == 0, (events, err.decode())
    return events


async def test_tus_js_client_interrupted_and_resumed_by_fingerprint(client, alice: Account, tmp_path: Path):
    path, content = a_file(tmp_path, 6 * CHUNK + 123, "from-node.bin")
    common = {"endpoint": base_url(client) + "/v2/uploads", "headers": alice.headers, "file": str(path),
              "chunkSize": CHUNK, "metadata": {"filename": path.name, "filetype": "application/octet-stream"},
              "urlStorage": str(tmp_path / "tus-js-urls.json")}
    first = await tus_js(**common, stopAfterChunks=2)
    assert [e["event"] for e in first] == ["url", "chunk", "chunk", "stopped"]
    url = first[0]["url"]
    assert first[-1]["offset"] == 2 * CHUNK
    assert await offset_of(client, alice, url.removeprefix(base_url(client))) == 2 * CHUNK

    second = await tus_js(**common)
    events = [e["event"] for e in second]
    assert events[0] == "resumed" and events[-1] == "success", second
    assert events.count("chunk") == 5  # the 4 chunks left and the last bytes: nothing sent twice
    assert second[-1]["url"] == url
    await assert_file(client, alice, second[-1]["fileId"], content, "from-node.bin")


async def test_tus_js_client_creation_with_upload_and_method_override(client, alice: Account, tmp_path: Path):
    path, content = a_file(tmp_path, 3 * CHUNK + 7, "override.bin")
    common = {"endpoint": base_url(client) + "/v2/uploads", "headers": alice.headers, "file": str(path),
              "chunkSize": CHUNK, "metadata": {"filename": path.name}, "uploadDataDuringCreation": True,
              "overridePatchMethod": True}
    first = await tus_js(**common, stopAfterChunks=1)  # the POST carried the first chunk
    assert [e["event"] for e in first] == ["url", "chunk", "stopped"] and first[-1]["offset"] == CHUNK
    second = await tus_js(**common, uploadUrl=first[0]["url"])
    assert second[-1]["event"] == "success", second
    document = await assert_file(client, alice, second[-1]["fileId"], content, "override.bin")
    assert document["sha256"] == hashlib.sha256(content).hexdigest()
    head = await client.head(first[0]["url"].removeprefix(base_url(client)), headers=tus(alice))
    assert head.headers["File-Id"] == document["id"]
