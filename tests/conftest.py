"""Fixtures every test area uses: a private redis-server on a free port, temp
folders, a temp SQLite file and Settings pointing at them. Nothing of ours is mocked."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from shared.config import Settings, load_settings
from shared.supervision.process import become_subreaper, descendants, reap_zombies

# PostgreSQL databases, an S3 endpoint, Redis Sentinel: fixtures of their own modules.
pytest_plugins = ["tests.engines.postgres", "tests.engines.s3", "tests.engines.sentinel"]

TESTS = Path(__file__).resolve().parent
PROJECT = TESTS.parent
IMAGES = TESTS / "images"

MONGO_ENV = "FM_TEST_MONGO_URL"
NO_MONGO = (
    f"MongoDB backend NOT tested: {MONGO_ENV} is not set "
    "(CI sets it to a wiremongo server; set it to a MongoDB URL to run these)"
)


# --- Nothing the run starts outlives it ----------------------------------------
# The test process becomes a child subreaper, so a process whose parent died
# (a supervisor's workers after a SIGKILL, a daemon) is re-parented to it rather
# than to init, and at the end every process still below it is something a test
# or fixture left running: listed, killed, and the run fails. (Not a marker in
# the environment: the supervisor's processes set their title with setproctitle,
# which overwrites /proc/PID/environ.) Each is named with the test after which
# it was first seen alive.
_GUARDED = False
_SEEN_AFTER: dict[int, str] = {}
# Lives as long as the test process by design (multiprocessing's spawn context).
_EXPECTED = ("multiprocessing.resource_tracker",)
_SETTLE = 5.0  # seconds a process that is exiting gets before it counts as left behind


def pytest_sessionstart(session: pytest.Session) -> None:
    global _GUARDED
    _GUARDED = become_subreaper()


def _direct_children() -> list[int]:
    pids: list[int] = []
    for task in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError), open(f"/proc/self/task/{task}/children") as fh:
            pids.extend(int(pid) for pid in fh.read().split())
    return pids


@pytest.fixture(autouse=True)
def _note_what_outlives_the_test(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if _GUARDED:
        for pid in _direct_children():
            _SEEN_AFTER.setdefault(pid, request.node.nodeid)


def _left_behind() -> dict[int, str]:
    return {pid: cmd for pid, cmd in descendants(os.getpid()).items()
            if not any(name in cmd for name in _EXPECTED)}


@pytest.hookimpl(trylast=True)  # after pytest's own session teardown (session fixtures)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _GUARDED:
        return
    deadline = time.monotonic() + _SETTLE
    while (left := _left_behind()) and time.monotonic() < deadline:
        reap_zombies()
        time.sleep(0.05)
    if left:
        lines = [f"pid {pid}: {cmd} (alive after {_started_by(pid)})" for pid, cmd in sorted(left.items())]
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write("\n")
            reporter.write_sep("!", f"{len(left)} process(es) started by the tests outlived them (killed now)",
                               red=True, bold=True)
            for line in lines:
                reporter.write_line(line, red=True)
        else:  # pragma: no cover - without the terminal plugin
            print("\n".join(lines))
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    deadline = time.monotonic() + _SETTLE
    while descendants(os.getpid()) and time.monotonic() < deadline:
        time.sleep(0.02)
    reap_zombies()


def _started_by(pid: int) -> str:
    """The test after which `pid` (or its closest noted ancestor) was first seen."""
    while pid > 1:
        if pid in _SEEN_AFTER:
            return _SEEN_AFTER[pid]
        try:
            with open(f"/proc/{pid}/stat") as fh:
                pid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            break
    return "an unknown test"


async def until(condition: Callable[[], Awaitable[object] | object], what: str = "condition",
                timeout: float = 20.0) -> None:
    """Poll `condition` (sync or async) every few ms until it holds; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name`, keeping hosts and options (replica set, srv)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@pytest.fixture
def mongo_db_url() -> Iterator[str]:
    """A MongoDB URL naming a fresh, unique database, dropped after the test.
    No MongoDB can be assumed on a developer's machine and the tests never start
    one: without FM_TEST_MONGO_URL the test is skipped, saying why."""
    base = os.environ.get(MONGO_ENV)
    if not base:
        pytest.skip(NO_MONGO)
    name = f"fm_test_{uuid.uuid4().hex[:16]}"
    yield with_database(base, name)
    from pymongo import MongoClient

    with MongoClient(base, serverSelectionTimeoutMS=5000) as client:
        client.drop_database(name)


@pytest.fixture(autouse=True)
def json_logs() -> None:
    """Logs as in production off a terminal: one JSON object per line."""
    from shared.config import LogSettings
    from shared.logging import configure_logging

    configure_logging(LogSettings(level="info", format="json"), cache=False, buffered=False)


@contextlib.contextmanager
def private_redis(folder: Path, *options: str, port: int | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """A redis-server of our own on a free port (or `port`: one started again
    where a stopped one was; never the machine's shared one), keeping nothing
    on disk unless `options` (e.g. "--appendonly", "yes") say otherwise."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: run the README's test command, which installs it")
    port = port or free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder), "--logfile", str(folder / "redis.log"),
         "--enable-debug-command", "local",  # tests switch active expiry off
         *options],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait(10)
                pytest.fail(f"redis-server did not start: {(folder / 'redis.log').read_text()}")
            time.sleep(0.02)
    client.close()
    try:
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server for the whole run."""
    with private_redis(tmp_path_factory.mktemp("redis")) as (url, _):
        yield url


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The private Redis, emptied before each test."""
    with redis.Redis.from_url(redis_server) as client:
        client.flushall()
    return redis_server


def service_env(folder: Path, redis_url: str, **extra: str) -> dict[str, str]:
    """The settings of a service of its own, as environment variables: a free
    port, content and SQLite under `folder`, that Redis, JSON logs. argon2
    runs with a small cost here so the suite stays quick; the production cost
    is checked on its own (tests/test_passwords.py)."""
    return {
        "PORT": str(free_port()),
        "FOLDER_PATH": str(folder / "files"),
        "DB_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "REDIS_URL": redis_url,
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "64",
        "LOG_FORMAT": "json",
        **extra,
    }


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Settings:
    """Settings on temp folders, a temp SQLite file and the private Redis."""
    return load_settings(env=service_env(tmp_path, redis_url, WORKER_CLAIM_IDLE="1",
                                         WORKER_RETRY_BASE_DELAY="0.05"))


@pytest.fixture
def env_for(settings: Settings) -> dict[str, str]:
    """The environment a subprocess needs to see the same settings."""
    env = dict(os.environ)
    env.update({
        "FOLDER_PATH": str(settings.storage.folder_path),
        "DB_URL": settings.storage.db_url,
        "REDIS_URL": settings.redis.url,
        "ARGON2_TIME_COST": str(settings.security.argon2_time_cost),
        "ARGON2_MEMORY_KIB": str(settings.security.argon2_memory_kib),
        "LOG_FORMAT": "json",
        "PORT": str(settings.server.port),
        "WORKER_CLAIM_IDLE": str(settings.worker.claim_idle),
        "WORKER_RETRY_BASE_DELAY": str(settings.worker.retry_base_delay),
        "PYTHONUNBUFFERED": "1",
    })
    return env


def status_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/status", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def running_supervisor(env: dict[str, str], log: Path, *, start_timeout: float = 30.0,
                       args: tuple[str, ...] = ()) -> Iterator[subprocess.Popen]:
    """`python supervisor.py` with `env` (over this process's environment), its
    output in `log`, once it serves /status on `env["PORT"]`. At the end it is
    stopped as an operator would (SIGINT) and must exit 0; whatever happened
    (a failed start, a hung stop, an interrupted test), no process of it is
    left: its whole process group is killed."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
    url = f"http://127.0.0.1:{env['PORT']}"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(PROJECT / "supervisor.py"), *args], cwd=PROJECT,
                                env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + start_timeout
        while not status_ok(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"supervisor.py did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.05)
        yield proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"supervisor.py did not stop on SIGINT:\n{log.read_text()[-3000:]}")
        assert code == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """`tmpfs("2m")`: a real filesystem of that size, mounted for the test (a
    full disk is a real ENOSPC, not a mock); unmounted afterwards. Mounting
    needs root, as CI has: without it the test fails saying so."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        folder = tmp_path / f"tmpfs-{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(f"cannot mount a tmpfs (these tests need root, as CI has): "
                        f"{done.stderr.strip() or done.returncode}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in reversed(mounted):
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "--lazy", str(folder)], check=True)


def fill_disk(folder: Path, leave: int = 0) -> Path:
    """A file taking all the room left in `folder`'s filesystem but `leave` bytes."""
    stat = os.statvfs(folder)
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as fh:
        fh.write(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave))
        if not leave:  # up to the last byte: the next write of anything is ENOSPC
            with contextlib.suppress(OSError):
                while True:
                    fh.write(b"\0" * 4096)
    return filler
