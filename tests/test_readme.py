"""The README's examples work as written: every ```sh block is run here, in a
real shell, against a real service (`python supervisor.py` with API and job
workers, SQLite, a private Redis), and what it prints is checked.

How a block is run depends on what it does:
- the API walkthrough and the operator commands: in bash, as they are, with
  only `API` (the walkthrough reads `${API:-...}`) and the service's settings
  in the environment;
- a block of commands that run until stopped (`scripts/run`, a standalone
  job worker): each line is started with the test's port, folders and Redis
  in the environment, must come up (serve `/status`, log `worker.start`),
  then stops cleanly on SIGINT;
- `scripts/test` is this suite itself: CI runs it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import IMAGES, free_port, running_supervisor, status_ok
from tests.engines.postgres import pg_database
from tests.engines.sentinel import sentinel_redis

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)
# `python -m services.worker` with no command (or only --name): runs until stopped.
_STANDALONE_WORKER = re.compile(r"\.venv/bin/python -m services\.worker( --name \S+)?\s*(#.*)?$")


def sh_blocks() -> list[str]:
    return [code for lang, code in _BLOCK.findall(README.read_text()) if lang == "sh"]


def python_blocks() -> list[str]:
    return [code for lang, code in _BLOCK.findall(README.read_text()) if lang == "python"]


V2_MARK = "# API v2\n"


def v2_walkthrough() -> str:
    (block,) = [b for b in sh_blocks() if b.startswith(V2_MARK)]
    return block


def starts_the_service(block: str) -> bool:
    return "scripts/run" in block


def starts_a_worker(block: str) -> bool:
    return all(_STANDALONE_WORKER.match(line) for line in block.splitlines() if line)


def is_the_test_suite(block: str) -> bool:
    return block.strip() == "scripts/test"


def walkthrough() -> str:
    (block,) = [b for b in sh_blocks() if b.startswith("API=")]
    return block


def installs_system_wide(block: str) -> bool:
    """The systemd install needs root and a booted systemd; its units are checked
    by tests/supervisor/test_systemd_units.py instead."""
    return "systemctl " in block


def operator_blocks() -> list[str]:
    return [b for b in sh_blocks()
            if not (b.startswith(("API=", V2_MARK)) or starts_the_service(b) or starts_a_worker(b)
                    or is_the_test_suite(b) or installs_system_wide(b))]


def wait_until(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def stop(proc: subprocess.Popen, log: Path) -> None:
    """SIGINT, as an operator's Ctrl-C: the service must stop cleanly (exit 0)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
    try:
        code = proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        pytest.fail(f"the service did not stop on SIGINT:\n{log.read_text()[-3000:]}")
    assert code == 0, log.read_text()[-3000:]


@pytest.fixture
def service(env_for, settings, tmp_path):
    """The whole service, as `scripts/run` starts it (python supervisor.py)."""
    env = {**env_for, "API_WORKERS": "2", "JOB_WORKERS": "1"}
    with running_supervisor(env, tmp_path / "service.log"):
        yield f"http://127.0.0.1:{settings.server.port}", env


def run_bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_every_sh_block_is_run_by_this_module():
    kinds = [walkthrough(), v2_walkthrough(), *operator_blocks(),
             *[b for b in sh_blocks() if installs_system_wide(b)]]
    starting = [b for b in sh_blocks() if starts_the_service(b)]
    workers = [b for b in sh_blocks() if starts_a_worker(b)]
    suite = [b for b in sh_blocks() if is_the_test_suite(b)]
    assert len(kinds) + len(starting) + len(workers) + len(suite) == len(sh_blocks())
    assert starting and workers and suite and operator_blocks()


def test_every_setting_is_in_the_configuration_table():
    config = (ROOT / "config.toml").read_text()
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration"):readme.index("\n## ", readme.index("## Configuration") + 1)]
    names = re.findall(r"^\w+\s*=.*?#\s*([A-Z][A-Z0-9_]+)", config, re.M)
    assert len(names) > 40
    assert [name for name in names if f"`{name}`" not in table] == []


def test_the_system_install_names_files_that_exist():
    """What can be checked of an install that needs root and systemd: every
    file of the checkout it copies or runs is there (the units themselves are
    verified by tests/supervisor/test_systemd_units.py)."""
    blocks = [b for b in sh_blocks() if installs_system_wide(b)]
    paths = {path for block in blocks for path in re.findall(r"/opt/files-manager/([\w./-]+)", block)}
    assert {"deploy/files-manager.service", "deploy/files-manager.socket"} <= paths
    for path in paths - {".venv/bin/python"}:
        assert (ROOT / path).exists(), f"the README's install uses {path}, which is not in the checkout"


def test_the_api_walkthrough_works_as_written(service, tmp_path):
    url, env = service
    work = tmp_path / "walkthrough"
    work.mkdir()
    shutil.copy(IMAGES / "flower.jpg", work / "photo.jpg")
    (work / ".curlrc").write_text('write-out = "\\n"\n')  # the README's tip: an answer a line
    done = run_bash(walkthrough(), work, {**env, "API": url, "CURL_HOME": str(work)})
    out = done.stdout
    assert done.returncode == 0, f"{out}\n{done.stderr}"

    lines = out.splitlines()
    assert lines[0] == '{"redis":true,"db":true}'
    assert lines[1] == '{"users":0,"files":0}'
    assert '"email":"bob@dylan.com"' in lines[2]  # signed up
    assert '"email":"bob@dylan.com"' in lines[3]  # users/me with the captured token
    # Only the last answer is an error: the token after the logout.
    assert [line for line in lines if '"error"' in line] == ['{"error":"Unauthorized"}']
    assert lines[-1] == '{"error":"Unauthorized"}'
    assert "Hello!" in out and "HeHello" not in out  # the content, then its first two bytes
    assert out.count('"name":"hello.txt"') == 4  # shown, listed in its folder, published, unpublished
    assert (work / "photo-copy.jpg").read_bytes() == (work / "photo.jpg").read_bytes()
    with Image.open(work / "thumb.jpg") as thumb:
        assert thumb.format == "JPEG" and thumb.width == 250


def test_the_v2_walkthrough_works_as_written(service, tmp_path):
    url, env = service
    work = tmp_path / "v2"
    work.mkdir()
    shutil.copy(IMAGES / "flower.jpg", work / "photo.jpg")
    (work / ".curlrc").write_text('write-out = "\\n"\n')
    done = run_bash(v2_walkthrough(), work, {**env, "API": url, "CURL_HOME": str(work)})
    out = done.stdout
    assert done.returncode == 0, f"{out}\n{done.stderr}"

    lines = out.splitlines()
    assert '"email":"ann@example.com"' in lines[0] and '"quotaBytes":null' in lines[1]
    assert "Hello, v2!" in lines
    assert '"name":"photo.jpg"' in lines[3] and '"next":"' in lines[3]  # biggest first, one a page
    assert '"name":"hello.txt"' in lines[4] and '"next":null' in lines[4]  # found in its folder
    assert '"name":"greeting.txt","type":"file","parentId":0' in lines[5]  # renamed, moved
    assert lines.count("first half, second half") == 2  # resumed tus upload, then behind a password
    assert "Upload-Offset: 12" in out
    assert (work / "shared.jpg").read_bytes() == (work / "photo.jpg").read_bytes()
    assert '"code":"password_required"' in out and '"code":"link_expired"' in out
    assert lines[-1].startswith('{"error":"Unauthorized"')  # logged out
    errors = [line for line in lines if '"error"' in line]
    assert len(errors) == 3, errors  # the password asked, the revoked link, the token after logout


def test_the_tus_client_example_works_as_written(service, tmp_path):
    import json
    import urllib.request

    url, env = service
    (block,) = python_blocks()
    shutil.copy(IMAGES / "flower.jpg", tmp_path / "photo.jpg")

    def call(path: str, body: dict) -> dict:
        request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as answer:
            return json.load(answer)

    call("/v2/users", {"email": "tus@example.com", "password": "long enough"})
    token = call("/v2/sessions", {"email": "tus@example.com", "password": "long enough"})["token"]
    done = subprocess.run([str(ROOT / ".venv/bin/python"), "-c", block], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env={**env, "API": url, "TOKEN": token})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(url + "/v2/uploads/")
    request = urllib.request.Request(url + "/v2/files?q=photo", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request) as answer:
        (item,) = json.load(answer)["items"]
    assert item["type"] == "image" and item["isPublic"] is True
    assert item["size"] == (tmp_path / "photo.jpg").stat().st_size


def test_the_operator_commands_work_as_written(service):
    _url, env = service
    for block in operator_blocks():
        done = run_bash(block, ROOT, env)
        assert done.returncode == 0, f"{block}\n{done.stdout}\n{done.stderr}"


@pytest.mark.parametrize("block", [b for b in sh_blocks() if starts_the_service(b)],
                         ids=lambda b: b.splitlines()[-1][:40])
def test_the_commands_that_start_the_service_start_it(block, env_for, tmp_path):
    """Each line of the block is started as written, with this test's port,
    folders and Redis; a MongoDB line is pointed at the test's MongoDB, a
    PostgreSQL line at a database of its own on the test's server, a
    Sentinel line at sentinels of its own."""
    for number, line in enumerate(cmd for cmd in block.splitlines() if cmd and not cmd.startswith("#")):
        with contextlib.ExitStack() as stack:
            _start_a_line(stack, number, line, env_for, tmp_path)


def _start_a_line(stack: contextlib.ExitStack, number: int, line: str, env_for: dict[str, str],
                  tmp_path: Path) -> None:
    """Start `line` as written (but where it names a database or sentinels,
    ones the test has), until it serves /status; then stop it as an operator would."""
    env = {**env_for, "PORT": str(free_port()), "API_WORKERS": "1", "JOB_WORKERS": "1"}
    if "postgresql://" in line:
        database = stack.enter_context(pg_database())
        line = re.sub(r"postgresql://\S+", database, line)
        env.pop("DB_URL")
    if "redis+sentinel://" in line:
        engine = stack.enter_context(sentinel_redis(tmp_path / f"sentinel-{number}"))
        line = re.sub(r"redis\+sentinel://[^'\s]+", engine.url, line)
    if "mongodb" in line or "DB_HOST" in line:
        mongo = os.environ.get("FM_TEST_MONGO_URL")
        if not mongo:
            pytest.skip("a MongoDB example: FM_TEST_MONGO_URL names no MongoDB to run it against")
        host, _, port = mongo.removeprefix("mongodb://").split("/")[0].partition(":")
        line = line.replace("localhost:27017", f"{host}:{port or 27017}")
        line = line.replace("DB_HOST=localhost", f"DB_HOST={host}").replace("DB_PORT=27017", f"DB_PORT={port}")
        env.pop("DB_URL")
    log = tmp_path / f"run-{number}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["bash", "-c", line], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{env['PORT']}"
    try:
        wait_until(lambda p=proc, u=url: p.poll() is not None or status_ok(u), f"`{line}` to serve")
        assert proc.poll() is None, log.read_text()[-3000:]
    finally:
        stop(proc, log)


@pytest.mark.parametrize("block", [b for b in sh_blocks() if starts_a_worker(b)], ids=["worker"])
def test_the_standalone_worker_commands_start_and_stop(block, env_for, tmp_path):
    for number, line in enumerate(cmd.split("#")[0].strip() for cmd in block.splitlines() if cmd):
        log = tmp_path / f"worker-{number}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(["bash", "-c", line], cwd=ROOT, env=env_for, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until(lambda p=proc, f=log: p.poll() is not None or '"worker.start"' in f.read_text(),
                       f"`{line}` to start")
            assert proc.poll() is None, log.read_text()[-3000:]
        finally:
            stop(proc, log)
