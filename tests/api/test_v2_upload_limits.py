"""The limits of an upload (api-v2.md): storage.max_file_size per file (413
`File too large`) and the user's quota (507 `Quota exceeded`), up front when
the Content-Length tells, else while streaming; a request over both gets
413; a rejected upload leaves no blob, no document, no bytes counted. v2
bodies are not held to v1's server.max_body_size; body timeouts still apply.
v1 uploads count their bytes and meet the quota too.

Each backend runs with small limits: in process (SQLite, MongoDB), and a
live service of its own started once for the module."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from services.api.app import create_app
from services.api.edge import RUNNER_OPTIONS
from shared.config import Settings
from shared.storage import Storage, open_storage

from .conftest import LiveService, b64, running_service, sign_up
from .uploads import (
    big,
    boundary_body,
    file_part,
    folder_entries,
    form,
    multipart_headers,
    nothing_left,
    raw_request,
    raw_response,
    sha256,
)

MIB = 1024 * 1024
MAX_FILE_SIZE = 4 * MIB
DEFAULT_QUOTA = 6 * MIB
MAX_BODY_SIZE = MIB  # v1's cap: v2 uploads pass it
BODY_TIMEOUT = 2.0
LIMITS = {"MAX_FILE_SIZE": str(MAX_FILE_SIZE), "DEFAULT_QUOTA": str(DEFAULT_QUOTA),
          "MAX_BODY_SIZE": str(MAX_BODY_SIZE), "BODY_TIMEOUT": str(BODY_TIMEOUT)}
TOO_LARGE = {"error": "File too large", "code": "file_too_large"}
OVER_QUOTA = {"error": "Quota exceeded", "code": "quota_exceeded"}


@pytest.fixture(scope="module")
def limited_live(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    with running_service(tmp_path_factory.mktemp("limited"), redis_server, **LIMITS) as live:
        yield live


class Limited:
    def __init__(self, client, settings: Settings, storage: Storage, port: int) -> None:
        self.client, self.settings, self.storage, self.port = client, settings, storage, port


@pytest.fixture(params=["sqlite", "mongo", "live"])
async def limited(request: pytest.FixtureRequest, aiohttp_client, aiohttp_server, settings: Settings
                  ) -> AsyncIterator[Limited]:
    if request.param == "live":
        live = request.getfixturevalue("limited_live")
        live.reset()
        settings = live.settings
    else:
        if request.param == "mongo":
            settings = settings.replace(storage={"db_url": request.getfixturevalue("mongo_db_url")})
        settings = settings.replace(
            server={"max_body_size": MAX_BODY_SIZE, "body_timeout": BODY_TIMEOUT},
            storage={"max_file_size": MAX_FILE_SIZE, "default_quota": DEFAULT_QUOTA})
    storage = await open_storage(settings.storage.db_url)
    try:
        if request.param == "live":
            async with aiohttp.ClientSession(base_url=live.url) as session:
                yield Limited(session, settings, storage, settings.server.port)
        else:
            server = await aiohttp_server(create_app(settings), **RUNNER_OPTIONS)
            yield Limited(await aiohttp_client(server), settings, storage, server.port)
    finally:
        await storage.close()


async def upload(limited: Limited, account, *files, **kwargs):
    return await limited.client.post("/v2/files", data=form(*files), headers=account.headers, **kwargs)


async def chunked(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 256 * 1024):
        yield data[start:start + 256 * 1024]


async def test_a_file_up_to_the_limit_passes_v1s_body_limit(limited):
    alice = await sign_up(limited.client)
    content = big(MAX_FILE_SIZE)  # 4 MiB, past server.max_body_size (1 MiB)
    resp = await upload(limited, alice, ("max.bin", content))
    assert resp.status == 201, await resp.text()
    (doc,) = (await resp.json())["items"]
    assert (doc["size"], doc["sha256"]) == (MAX_FILE_SIZE, sha256(content))
    assert (await limited.storage.usage(alice.id)).used_bytes == MAX_FILE_SIZE


@pytest.mark.parametrize("how", ["content-length", "chunked"])
async def test_a_file_over_max_file_size_is_413_and_leaves_nothing(limited, how):
    alice = await sign_up(limited.client)
    body = boundary_body([file_part("big.bin", big(MAX_FILE_SIZE + 1))])
    resp = await limited.client.post("/v2/files", data=body if how == "content-length" else chunked(body),
                                     headers=multipart_headers(alice.token))
    assert resp.status == 413
    assert await resp.json() == TOO_LARGE
    await nothing_left(limited.storage, limited.settings, alice.id)


async def test_the_quota_is_checked_while_streaming(limited):
    alice = await sign_up(limited.client)
    first = big(4 * MIB)
    assert (await upload(limited, alice, ("first.bin", first))).status == 201
    kept = folder_entries(limited.settings)
    for how in ("content-length", "chunked"):
        body = boundary_body([file_part("second.bin", big(3 * MIB))])  # 7 MiB > the 6 MiB default quota
        resp = await limited.client.post("/v2/files", data=body if how == "content-length" else chunked(body),
                                         headers=multipart_headers(alice.token))
        assert resp.status == 507
        assert await resp.json() == OVER_QUOTA
    await nothing_left(limited.storage, limited.settings, alice.id, kept=kept, used_bytes=len(first), files=1)


async def test_several_files_are_all_or_nothing(limited):
    alice = await sign_up(limited.client)
    await limited.storage.set_quota(alice.id, 5 * MIB)
    resp = await upload(limited, alice, *[(f"{i}.bin", big(2 * MIB)) for i in range(3)])
    assert resp.status == 507
    assert await resp.json() == OVER_QUOTA
    await nothing_left(limited.storage, limited.settings, alice.id)  # the two that fitted went too
    resp = await upload(limited, alice, *[(f"{i}.bin", big(2 * MIB)) for i in range(2)])
    assert resp.status == 201
    assert (await limited.storage.usage(alice.id)).used_bytes == 4 * MIB


async def test_over_both_limits_is_413(limited):
    alice = await sign_up(limited.client)
    await limited.storage.set_quota(alice.id, MIB)
    for body in (boundary_body([file_part("big.bin", big(MAX_FILE_SIZE + 1))]),
                 chunked(boundary_body([file_part("big.bin", big(MAX_FILE_SIZE + 1))]))):
        resp = await limited.client.post("/v2/files", data=body, headers=multipart_headers(alice.token))
        assert resp.status == 413
        assert await resp.json() == TOO_LARGE
    await nothing_left(limited.storage, limited.settings, alice.id)


async def test_a_content_length_over_the_quota_is_refused_before_the_body(limited):
    """Only the head is sent: the answer comes without a byte of the body."""
    alice = await sign_up(limited.client)
    await limited.storage.set_quota(alice.id, 10)
    reader, writer = await raw_request(limited.port,
                                       f"POST /v2/files HTTP/1.1\r\nHost: x\r\nX-Token: {alice.token}\r\n"
                                       f"Content-Type: multipart/form-data; boundary=b0undary\r\n"
                                       f"Content-Length: {3 * MIB}\r\n\r\n")
    status, _, body = await raw_response(reader)
    writer.close()
    assert (status, body) == (507, b'{"error":"Quota exceeded","code":"quota_exceeded"}')
    for length, expected in ((MAX_FILE_SIZE + 1, 413), (MIB, 507)):
        reader, writer = await raw_request(limited.port,
                                           f"PUT /v2/files/{await _a_file(limited, alice)}/content HTTP/1.1\r\n"
                                           f"Host: x\r\nX-Token: {alice.token}\r\nContent-Length: {length}\r\n\r\n")
        status, _, _ = await raw_response(reader)
        writer.close()
        assert status == expected


async def _a_file(limited: Limited, account) -> str:
    resp = await upload(limited, account, ("small.txt", b"abc"))
    if resp.status == 201:
        return (await resp.json())["items"][0]["id"]
    return "0123456789abcdef01234567"  # over the quota already: any id, the limits come first


async def test_the_default_quota_and_the_users_own(limited):
    alice = await sign_up(limited.client)
    assert (await upload(limited, alice, ("a.bin", big(3 * MIB)))).status == 201
    assert (await upload(limited, alice, ("b.bin", big(3 * MIB + 1)))).status == 507  # 6 MiB by default
    await limited.storage.set_quota(alice.id, 7 * MIB)
    assert (await upload(limited, alice, ("b.bin", big(3 * MIB + 1)))).status == 201
    await limited.storage.set_quota(alice.id, 0)  # nothing more, folders still
    assert (await upload(limited, alice, ("c.bin", b"x"))).status == 507
    resp = await limited.client.post("/v2/files", json={"name": "d", "type": "folder"}, headers=alice.headers)
    assert resp.status == 201


async def test_replacing_content_moves_the_used_bytes_within_the_quota(limited):
    alice = await sign_up(limited.client)
    await limited.storage.set_quota(alice.id, 5 * MIB)
    small = big(MIB)
    resp = await upload(limited, alice, ("a.bin", big(3 * MIB)), ("b.bin", small))
    first, second = (await resp.json())["items"]
    url = f"/v2/files/{first['id']}/content"
    four = big(4 * MIB)  # 3 MiB replaced by 4: 5 MiB in all, within the quota
    resp = await limited.client.put(url, data=four, headers=alice.headers)
    assert resp.status == 200, await resp.text()
    assert (await limited.storage.usage(alice.id)).used_bytes == 5 * MIB
    kept = folder_entries(limited.settings)
    for data in (big(4 * MIB + 1), chunked(big(4 * MIB + 1))):  # over the size as well: 413 first
        resp = await limited.client.put(url, data=data, headers=alice.headers)
        assert (resp.status, await resp.json()) == (413, TOO_LARGE)
    await limited.storage.set_quota(alice.id, 5 * MIB + MIB // 2)
    for data in (big(2 * MIB), chunked(big(2 * MIB))):  # 1 MiB replaced by 2: 6 MiB > 5.5
        resp = await limited.client.put(f"/v2/files/{second['id']}/content", data=data, headers=alice.headers)
        assert (resp.status, await resp.json()) == (507, OVER_QUOTA)
    await nothing_left(limited.storage, limited.settings, alice.id, kept=kept, used_bytes=5 * MIB, files=2)
    for doc, content in ((first, four), (second, small)):
        got = await limited.client.get(f"/v2/files/{doc['id']}/content", headers=alice.headers)
        assert await got.read() == content


async def test_a_silent_client_gets_408_and_leaves_nothing(limited):
    alice = await sign_up(limited.client)
    body = boundary_body([file_part("slow.bin", big(2 * MIB))])
    reader, writer = await raw_request(limited.port,
                                       f"POST /v2/files HTTP/1.1\r\nHost: x\r\nX-Token: {alice.token}\r\n"
                                       f"Content-Type: multipart/form-data; boundary=b0undary\r\n"
                                       f"Content-Length: {len(body)}\r\n\r\n")
    writer.write(body[:MIB])
    await writer.drain()
    status, _, answer = await raw_response(reader)  # then nothing more is sent
    writer.close()
    assert status == 408, answer
    await nothing_left(limited.storage, limited.settings, alice.id)


async def test_v1_uploads_count_their_bytes_and_meet_the_quota(limited):
    alice = await sign_up(limited.client)
    await limited.storage.set_quota(alice.id, 1000)
    content = big(600)
    resp = await limited.client.post("/files", json={"name": "a.bin", "type": "file", "data": b64(content)},
                                     headers=alice.headers)
    assert resp.status == 201
    record = await limited.storage.file_of_user(alice.id, (await resp.json())["id"])
    assert (record.size, record.sha256, record.mime_type) == (600, sha256(content), "application/octet-stream")
    assert (await limited.storage.usage(alice.id)).used_bytes == 600
    kept = folder_entries(limited.settings)
    resp = await limited.client.post("/files", json={"name": "b.bin", "type": "file", "data": b64(big(401))},
                                     headers=alice.headers)
    assert resp.status == 507
    assert await resp.json() == {"error": "Quota exceeded"}  # v1: no code
    await nothing_left(limited.storage, limited.settings, alice.id, kept=kept, used_bytes=600, files=1)


async def test_a_streamed_body_holds_its_footprint_in_the_budget_not_its_length(aiohttp_client, settings):
    """A v1 body reserves its length; a v2 upload streamed to disk only what it holds in memory
    (bodies.STREAM_FOOTPRINT): both fit in the process's budget at once."""
    from services.api.inflight import BODY_BUDGET

    client = await aiohttp_client(create_app(settings.replace(server={"max_inflight_body_bytes": 7 * MIB})))
    alice = await sign_up(client)
    v1_body = b'{"name": "a.bin", "type": "file", "data": "' + b64(big(3 * MIB)).encode() + b'"}'  # 4 MiB
    reader, writer = await raw_request(client.server.port,
                                       f"POST /files HTTP/1.1\r\nHost: x\r\nX-Token: {alice.token}\r\n"
                                       f"Content-Type: application/json\r\nContent-Length: {len(v1_body)}\r\n\r\n")
    writer.write(v1_body[:1000])
    await writer.drain()
    budget = client.app[BODY_BUDGET]
    while budget.in_flight < len(v1_body):
        await asyncio.sleep(0.01)
    resp = await client.post("/v2/files", data=form(("b.bin", big(3 * MIB))), headers=alice.headers)
    assert resp.status == 201  # 4 MiB + 3 MiB of bodies: over the 7 MiB budget by length, not by footprint
    writer.write(v1_body[1000:])
    status, _, _ = await raw_response(reader)
    writer.close()
    assert status == 201
    assert budget.in_flight == 0
