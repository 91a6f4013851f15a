"""The queue's figures of a scrape, read from a real Redis: what queue_status
says, and nothing (the scrape goes on without them) when Redis does not answer."""

from __future__ import annotations

import asyncio
import socket

from shared.enqueuer import Enqueuer
from shared.jobs import KINDS, THUMBNAILS, thumbnails_job
from shared.metrics.exposition import render
from shared.metrics.scrape import QUEUE_TIMEOUT, queue_figures, scrape
from shared.redis_client import open_redis
from tests.conftest import free_port

from .conftest import parse, value


async def test_the_queue_figures_come_from_redis(redis_url, tmp_path):
    redis = open_redis(redis_url)
    try:
        for n in range(3):
            await Enqueuer(redis).enqueue(thumbnails_job(f"{n:024x}", "0" * 24))
        figures = await queue_figures(redis)
        assert figures is not None and set(figures.streams) == set(KINDS)
        samples = parse((await scrape(tmp_path, redis)).decode())
    finally:
        await redis.aclose()
    assert value(samples, "queue_depth", kind=THUMBNAILS) == 3
    assert value(samples, "queue_pending", kind=THUMBNAILS) == 0
    assert ("queue_dead", frozenset()) in samples


async def test_without_redis_the_scrape_goes_on_without_the_queue(tmp_path):
    redis = open_redis(f"redis://127.0.0.1:{free_port()}/0")  # nobody listens there
    try:
        assert await queue_figures(redis) is None
        text = (await scrape(tmp_path, redis)).decode()
    finally:
        await redis.aclose()
    assert "queue_depth" not in text and "process_resident_memory_bytes" in text
    assert text == render(tmp_path, None).decode()


async def test_a_redis_that_does_not_answer_holds_a_scrape_up_only_so_long(tmp_path):
    silent = socket.socket()  # connections are queued, never answered
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    redis = open_redis(f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        assert await queue_figures(redis) is None
        assert loop.time() - started >= QUEUE_TIMEOUT  # it waited, then gave up
    finally:
        await redis.aclose()
        silent.close()
