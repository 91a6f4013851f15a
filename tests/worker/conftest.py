"""Helpers for the worker tests: real SQLite metadata, real files in the temp
FOLDER_PATH, the private Redis, workers in-process or as real subprocesses."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis as redis_sync
from redis.asyncio import Redis

from services.worker.consumer import JobWorker
from shared.config import Settings
from shared.enqueuer import Enqueuer
from shared.jobs import DEAD_LETTERS, GROUP, KINDS, Job, stream_of
from shared.redis_client import open_redis
from shared.storage import ROOT, NewFile, Storage, open_storage

PROJECT = Path(__file__).resolve().parents[2]
IMAGES = PROJECT / "tests" / "images"


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = open_redis(settings.redis.url)
    yield client
    await client.aclose()


@pytest.fixture
async def storage(settings: Settings) -> AsyncIterator[Storage]:
    settings.storage.folder_path.mkdir(parents=True, exist_ok=True)
    store = await open_storage(settings.storage.db_url)
    yield store
    await store.close()


class Data:
    """Users and uploaded files, made the way the API makes them."""

    def __init__(self, settings: Settings, storage: Storage, redis: Redis) -> None:
        self.settings = settings
        self.storage = storage
        self.redis = redis

    async def user(self, email: str | None = None) -> str:
        user = await self.storage.create_user(email or f"{uuid.uuid4().hex[:8]}@example.com", "x")
        return user.id

    async def image(self, user_id: str, source: str | bytes, type_: str = "image") -> tuple[str, str]:
        """Store `source` (a tests/images name or raw bytes) as an upload; (file id, path)."""
        path = self.settings.storage.folder_path / str(uuid.uuid4())
        if isinstance(source, bytes):
            path.write_bytes(source)
        else:
            shutil.copyfile(IMAGES / source, path)
        record = await self.storage.create_file(NewFile(
            user_id=user_id, name=str(source)[:20], type=type_, is_public=False,
            parent_id=ROOT, local_path=str(path)))
        return record.id, str(path)

    async def enqueue(self, job: Job) -> str:
        return await Enqueuer(self.redis).enqueue(job)


@pytest.fixture
async def data(settings: Settings, storage: Storage, redis: Redis) -> Data:
    return Data(settings, storage, redis)


class CollectSender:
    """A WelcomeSender that keeps the addresses (a mailer stand-in, as a user would plug one)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, email: str) -> None:
        self.sent.append(email)


async def dead_letters(redis: Redis) -> list[dict[str, str]]:
    return [{"id": i.decode(), **{k.decode(): v.decode() for k, v in f.items()}}
            for i, f in await redis.xrange(DEAD_LETTERS)]


async def queue_empty(redis: Redis, kinds: tuple[str, ...] = KINDS) -> bool:
    """No entry left in any stream and nothing pending: every job settled."""
    for kind in kinds:
        if await redis.xlen(stream_of(kind)):
            return False
    return True


async def pending_count(redis: Redis, stream: str) -> int:
    return int((await redis.xpending(stream, GROUP))["pending"])


class RunningWorker:
    """A JobWorker running in this event loop."""

    def __init__(self, worker: JobWorker) -> None:
        self.worker = worker
        self.task: asyncio.Task | None = None

    async def start(self) -> RunningWorker:
        await self.worker.start()
        self.task = asyncio.create_task(self.worker.run())
        return self

    async def stop(self, timeout: float | None = 5.0) -> None:
        self.worker.stop(timeout)
        await asyncio.wait_for(self.task, 30)
        await self.worker.close()


@pytest.fixture
async def run_worker(settings: Settings) -> AsyncIterator[Callable[..., Awaitable[RunningWorker]]]:
    running: list[RunningWorker] = []

    async def start(settings_: Settings | None = None, **kwargs) -> RunningWorker:
        worker = await RunningWorker(JobWorker(settings_ or settings, **kwargs)).start()
        running.append(worker)
        return worker

    yield start
    for worker in running:
        if not worker.task.done():
            await worker.stop(1.0)


def start_redis(port: int, folder: Path) -> subprocess.Popen:
    """Another private redis-server (for tests that stop and restart one)."""
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(folder)], stdout=subprocess.DEVNULL)
    client = redis_sync.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            client.close()
            return proc
        except redis_sync.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.02)


class WorkerProcess:
    """`python -m services.worker` as a real process; its output goes to a
    file (a pipe nobody reads could fill up and block the worker)."""

    def __init__(self, env: dict[str, str], log_path: Path, *args: str, **extra_env: str) -> None:
        self.log_path = log_path
        self._out = open(log_path, "w")  # noqa: SIM115 - closed in stop(), after the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.worker", *args],
            cwd=PROJECT, env={**env, **extra_env}, stdout=self._out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log_path.read_text()

    def events(self, name: str | None = None) -> list[dict]:
        return [e for e in log_events(self.output()) if name is None or e.get("event") == name]

    def wait(self, timeout: float = 30) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._out.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait()


@pytest.fixture
def spawn(env_for: dict[str, str], tmp_path: Path):
    """Start worker processes; any still running at the end are killed."""
    started: list[WorkerProcess] = []

    def start(*args: str, **extra_env: str) -> WorkerProcess:
        worker = WorkerProcess(env_for, tmp_path / f"worker-{len(started)}.log", *args, **extra_env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.worker", *args], cwd=PROJECT,
                          env=env, capture_output=True, text=True, timeout=60)


def log_events(output: str) -> list[dict]:
    """The JSON log lines of a process's output (other lines are skipped)."""
    events = []
    for line in output.splitlines():
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except ValueError:
                pass
    return events
