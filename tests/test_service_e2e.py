"""The whole service as an operator runs it: `python supervisor.py` with an API
worker and a job worker, driven over HTTP. An uploaded image gets its three
thumbnails; a new user gets a welcome; a hostile image is dead-lettered and the
worker goes on; SIGINT stops everything with exit 0."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import IMAGES, running_supervisor

ROOT = Path(__file__).resolve().parent.parent


def call(method: str, url: str, body: dict | None = None, headers: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except OSError:  # not listening yet, or gone
        return 0, b""


def until(condition, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def service(env_for, settings, tmp_path):
    env = {**env_for, "API_WORKERS": "1", "JOB_WORKERS": "1"}
    log = tmp_path / "service.log"
    with running_supervisor(env, log) as proc:
        yield f"http://127.0.0.1:{settings.server.port}", log, env, proc


def test_upload_to_thumbnails_welcome_dead_letter_and_clean_stop(service, settings):
    url, log, env, _ = service
    status, body = call("POST", f"{url}/users", {"email": "ann@example.com", "password": "pw"})
    assert status == 201
    until(lambda: "Welcome ann@example.com!" in log.read_text(), what="the welcome message")

    auth = "Basic " + base64.b64encode(b"ann@example.com:pw").decode()
    status, body = call("GET", f"{url}/connect", headers={"Authorization": auth})
    token = {"X-Token": json.loads(body)["token"]}

    hostile = (IMAGES / "broken.png").read_bytes()
    status, body = call("POST", f"{url}/files", {"name": "broken.png", "type": "image",
                                                 "data": base64.b64encode(hostile).decode()}, token)
    assert status == 201
    photo = (IMAGES / "flower.jpg").read_bytes()
    status, body = call("POST", f"{url}/files", {"name": "flower.jpg", "type": "image", "isPublic": True,
                                                 "data": base64.b64encode(photo).decode()}, token)
    assert status == 201
    image_id = json.loads(body)["id"]

    for size in (500, 250, 100):
        thumb_url = f"{url}/files/{image_id}/data?size={size}"
        status, data = until(lambda u=thumb_url: (r := call("GET", u))[0] == 200 and r,
                             what=f"the {size} thumbnail")
        thumb = settings.storage.folder_path / "thumb.jpg"
        thumb.write_bytes(data)
        with Image.open(thumb) as im:
            assert im.format == "JPEG"
            assert im.width == min(size, 480)  # flower.jpg is 480 px wide: never upscaled
        thumb.unlink()

    def dead_letters() -> int:
        out = subprocess.run([sys.executable, "-m", "services.worker", "status", "--json"], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out)["dead_letters"]

    assert until(dead_letters, what="the hostile image's dead letter") == 1
    assert not [p for p in os.listdir(settings.storage.folder_path) if p.endswith(".part")]


def test_sigint_exits_0_and_leaves_no_process(service):
    _url, log, _env, master = service
    children = subprocess.run(["pgrep", "-P", str(master.pid)], capture_output=True, text=True).stdout.split()
    titles = sorted(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode() for pid in children)
    assert titles == ["files-manager: api worker 1", "files-manager: job worker 1"]
    master.send_signal(2)
    assert master.wait(30) == 0
    assert not [pid for pid in children if os.path.exists(f"/proc/{pid}")]
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert events[-1]["event"] == "exit" and events[-1]["code"] == 0
