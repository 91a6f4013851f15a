"""Graceful shutdown with real signals: in-flight downloads, the whole process
group, a second signal, children that do not answer."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal

import aiohttp

from .conftest import alive, public_file, wait_until

SIZE = 24 * 1024 * 1024


async def start_download(session: aiohttp.ClientSession, url: str, file_id: str):
    """A download that has begun (first MiB read) and is still in flight."""
    resp = await session.get(f"{url}/files/{file_id}/data")
    assert resp.status == 200
    first = await resp.content.readexactly(1 << 20)
    return resp, hashlib.sha256(first)


async def finish_download(resp, digest) -> tuple[int, str]:
    total = 1 << 20
    async for chunk in resp.content.iter_chunked(1 << 16):
        digest.update(chunk)
        total += len(chunk)
    resp.release()
    return total, digest.hexdigest()


async def test_long_download_in_flight_during_sigint_completes_byte_for_byte(start_service):
    service = start_service(API_WORKERS="1")
    await asyncio.to_thread(service.ready)
    data = os.urandom(SIZE)
    async with aiohttp.ClientSession() as session:
        file_id = await public_file(session, service.url, data)
        resp, digest = await start_download(session, service.url, file_id)
        service.signal(signal.SIGINT)
        await asyncio.to_thread(service.wait_for, "shutdown.start")
        total, hexdigest = await finish_download(resp, digest)
    assert total == SIZE
    assert hexdigest == hashlib.sha256(data).hexdigest()
    assert await asyncio.to_thread(service.wait_exit) == 0


async def test_sigint_to_the_whole_group_is_one_ordered_shutdown(start_service):
    """Ctrl-C in a terminal: every process gets SIGINT at once."""
    service = start_service(JOB_WORKERS="1")
    await asyncio.to_thread(service.ready)
    data = os.urandom(SIZE)
    async with aiohttp.ClientSession() as session:
        file_id = await public_file(session, service.url, data)
        downloads = [await start_download(session, service.url, file_id) for _ in range(3)]
        # and requests being answered right now, on keep-alive connections
        statuses = [asyncio.ensure_future(session.get(f"{service.url}/status")) for _ in range(20)]
        await asyncio.sleep(0)  # let them be written (they are in flight when the signal lands)
        service.signal_group(signal.SIGINT)
        results = [await finish_download(resp, digest) for resp, digest in downloads]
        answered = await asyncio.gather(*statuses, return_exceptions=True)
    assert results == [(SIZE, hashlib.sha256(data).hexdigest())] * 3
    for outcome in answered:
        # in flight: answered; not yet connected when the workers stopped
        # accepting: refused. Never a reset or a half answer.
        if isinstance(outcome, Exception):
            assert isinstance(outcome, aiohttp.ClientConnectorError), repr(outcome)
        else:
            assert outcome.status == 200
            outcome.release()
    assert await asyncio.to_thread(service.wait_exit) == 0
    assert service.named("shutdown.forced") == []
    assert all(e.get("code") == 0 for e in service.named("child.exit"))
    assert len(service.named("shutdown.start")) == 1


def test_children_that_do_not_answer_are_killed_after_the_timeout_exit_1(start_service):
    service = start_service(GRACEFUL_TIMEOUT="1", HEARTBEAT_TIMEOUT="30").ready()
    pids = service.children()
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)  # they will never answer SIGTERM
    service.signal(signal.SIGTERM)
    started = service.wait_for("shutdown.start")
    assert service.wait_exit(15) == 1
    forced = service.wait_for("shutdown.forced")
    assert sorted(c["pid"] for c in forced["children"]) == sorted(pids)
    assert started["timeout"] <= 1
    assert service.wait_for("exit")["code"] == 1
    wait_until(lambda: not any(alive(pid) for pid in pids), 5, "no process left")


def test_second_signal_forces_the_exit_at_once(start_service):
    service = start_service(GRACEFUL_TIMEOUT="60", HEARTBEAT_TIMEOUT="60").ready()
    pids = service.children()
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    service.signal(signal.SIGINT)
    service.wait_for("shutdown.start")
    service.signal(signal.SIGINT)
    assert service.wait_exit(10) == 1  # long before the 60 s graceful timeout
    assert service.wait_for("shutdown.second_signal")["signal"] == "SIGINT"
    assert service.named("shutdown.forced")
    wait_until(lambda: not any(alive(pid) for pid in pids), 5, "no process left")
