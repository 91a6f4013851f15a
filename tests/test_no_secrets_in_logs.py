"""No secret reaches a log: a whole journey through the real service (two API
workers, a job worker, the master, a Redis of its own) with every kind of
secret it takes, then every line every process wrote (stdout and stderr) is
searched for each of them.

The secrets: the passwords (v1's, v2's, the new one, wrong ones), the tokens
(v1's /connect, v2's sessions), the Basic credentials as sent (base64), a share
link's token, its password (in a form, and in a query string where it does not
belong) and the cookie it unlocks, and the metrics token. The journey ends
with a Redis outage while the link is opened: the outage's warnings are
written for the request too. Each secret is random and long, so finding it
can only mean it was logged."""

from __future__ import annotations

import base64
import contextlib
import secrets
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from tests.conftest import IMAGES, private_redis, running_supervisor, service_env

TUS = {"Tus-Resumable": "1.0.0"}


def secret(label: str) -> str:
    return f"{label}{secrets.token_hex(16)}"


def test_a_whole_journey_logs_no_secret(tmp_path: Path):
    found: dict[str, str] = {}  # label -> the secret
    metrics_token = found["metrics token"] = secret("metrics")
    redis_folder = tmp_path / "redis"
    redis_folder.mkdir()
    log = tmp_path / "service.log"
    with contextlib.ExitStack() as stack:
        redis_url, redis = stack.enter_context(private_redis(redis_folder))
        env = service_env(tmp_path, redis_url, API_WORKERS="2", JOB_WORKERS="1", METRICS_TOKEN=metrics_token)
        url = f"http://127.0.0.1:{env['PORT']}"
        with running_supervisor(env, log), requests.Session() as http:
            share_path, link_password = journey(http, url, found, log)
            outage(url, share_path, link_password, redis, log)
            # Redis back (kept until the service has stopped), and the service ready again by itself.
            stack.enter_context(private_redis(redis_folder, port=urlsplit(redis_url).port))
            deadline = time.monotonic() + 30
            while requests.get(f"{url}/readyz", timeout=30).status_code != 200:
                assert time.monotonic() < deadline, "not ready again once Redis was back"
                time.sleep(0.05)
    # The service has stopped: everything every process wrote is in the log.
    text = log.read_text(errors="replace")
    for event in ("request", "job.done", "backend.unavailable"):  # the lines that could leak were written
        assert f'"event":"{event}"' in text, event
    leaked = {label: value for label, value in found.items() if value in text}
    assert not leaked, "secrets in the logs: " + ", ".join(
        f"{label} in {next(line for line in text.splitlines() if value in line)[:300]!r}"
        for label, value in leaked.items())


def journey(http: requests.Session, url: str, found: dict[str, str], log: Path) -> tuple[str, str]:
    """Everything a user does with a secret; the share link's path and password."""
    # v1: sign up, connect with Basic credentials, upload an image (a thumbnail job).
    email1 = f"v1-{secrets.token_hex(4)}@example.com"
    password1 = found["v1 password"] = secret("pw1")
    assert http.post(f"{url}/users", json={"email": email1, "password": password1}).status_code == 201
    basic = found["basic credentials"] = base64.b64encode(f"{email1}:{password1}".encode()).decode()
    resp = http.get(f"{url}/connect", headers={"Authorization": f"Basic {basic}"})
    assert resp.status_code == 200
    token1 = found["v1 token"] = resp.json()["token"]
    v1 = {"X-Token": token1}
    image = base64.b64encode((IMAGES / "hopper.jpg").read_bytes()).decode()
    resp = http.post(f"{url}/files", headers=v1, json={"name": "hopper.jpg", "type": "image", "data": image})
    assert resp.status_code == 201, resp.text
    file_id = resp.json()["id"]

    # v2: sign up, a failed and a good login, a form upload and a tus upload.
    email2 = f"v2-{secrets.token_hex(4)}@example.com"
    password2 = found["v2 password"] = secret("pw2")
    assert http.post(f"{url}/v2/users", json={"email": email2, "password": password2}).status_code == 201
    wrong = found["wrong password"] = secret("wrong")
    assert http.post(f"{url}/v2/sessions", json={"email": email2, "password": wrong}).status_code == 401
    resp = http.post(f"{url}/v2/sessions", json={"email": email2, "password": password2})
    assert resp.status_code == 201
    token2 = found["v2 token"] = resp.json()["token"]
    v2 = {"Authorization": f"Bearer {token2}"}
    resp = http.post(f"{url}/v2/files", headers=v2, files={"file": ("notes.txt", b"some notes", "text/plain")})
    assert resp.status_code == 201, resp.text
    metadata = "filename " + base64.b64encode(b"tus.txt").decode()
    resp = http.post(f"{url}/v2/uploads", headers={**TUS, **v2, "Upload-Length": "5", "Upload-Metadata": metadata})
    assert resp.status_code == 201, resp.text
    resp = http.patch(url + resp.headers["Location"], data=b"hello", headers={
        **TUS, **v2, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
    assert resp.status_code == 204, resp.text

    # A share link with a password: refused without it, a wrong one, the right one in a
    # query string (not how it is sent: refused), the right one in the form, the content
    # with the cookie it set.
    link_password = found["link password"] = secret("linkpw")
    resp = http.post(f"{url}/v2/files/{file_id}/links", headers=v1, json={"password": link_password})
    assert resp.status_code == 201, resp.text
    share_path = resp.json()["url"]
    found["share token"] = share_path.rstrip("/").rsplit("/", 1)[1]
    with requests.Session() as visitor:
        assert visitor.get(url + share_path).status_code == 401
        bad = found["wrong link password"] = secret("badlinkpw")
        assert visitor.post(url + share_path, data={"password": bad}, allow_redirects=False).status_code == 401
        assert visitor.get(url + share_path, params={"password": link_password}).status_code == 401
        resp = visitor.post(url + share_path, data={"password": link_password}, allow_redirects=False)
        assert resp.status_code == 303, resp.text
        cookies = visitor.cookies.get_dict()
        assert cookies
        for name, value in cookies.items():
            found[f"cookie {name}"] = value
        resp = visitor.get(url + share_path)
        assert resp.status_code == 200 and resp.content == (IMAGES / "hopper.jpg").read_bytes()

    # Metrics asked for with its token (answered or not, the token is not logged).
    http.get(f"{url}/metrics", headers={"Authorization": f"Bearer {found['metrics token']}"})

    # Password change, then both logged out.
    password3 = found["new password"] = secret("pw3")
    resp = http.put(f"{url}/v2/users/me/password", headers=v2,
                    json={"currentPassword": password2, "newPassword": password3})
    assert resp.status_code == 204, resp.text
    assert http.get(f"{url}/disconnect", headers=v1).status_code == 204
    assert http.delete(f"{url}/v2/sessions/current", headers=v2).status_code == 204
    wait_for_in(log, '"event":"job.done"', "the thumbnail job")
    return share_path, link_password


def outage(url: str, share_path: str, link_password: str, redis: subprocess.Popen, log: Path) -> None:
    """Redis gone while the link's password is checked (its attempts are counted
    there): 503, and the outage's warning, written for that request."""
    redis.terminate()
    redis.wait(10)
    resp = requests.post(url + share_path, data={"password": link_password}, allow_redirects=False, timeout=30)
    assert resp.status_code == 503, resp.text
    wait_for_in(log, '"event":"backend.unavailable"', "the outage's warning")


def wait_for_in(log: Path, text: str, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"{what} did not show in the log"
        time.sleep(0.05)
