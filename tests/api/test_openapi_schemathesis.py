"""/openapi.json is true to the service: schemathesis runs against
`python supervisor.py` (SQLite, a private redis-server, a fresh database each
run) with every check it has, and finds no server error and no answer, header
or body the document does not describe, and no input the document calls valid
refused or invalid accepted.

Deterministic: a fixed seed, one worker, nothing kept between runs (no example
database, no cache: schemathesis.toml) and a fixed number of examples per
operation, not a time budget (`--max-time` would make the count depend on the
machine's speed): two runs generate the same inputs. Not quite the same
requests: the ids the service makes differ each run, and schemathesis builds
requests from the answers (the stateful phase's links, ids reused by the
fuzzer), so every answer the run must reach is asked for on purpose (the
hooks' explicit examples), never left to how a run falls out.
The hooks (openapi_hooks.py) give schemathesis a token that survives its own
GET /disconnect and a login the brute-force limits never lock out, narrow the
400s valid input may get to those that depend on the server's state, and
require every operation to have succeeded at least once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
import requests

from services.api.openapi import SPEC
from shared.domain.uploads import parts_folder
from tests.conftest import private_redis

from .conftest import running_service

HERE = Path(__file__).resolve().parent
SEED = 20261201
# Per operation, for fuzzing (and the stateful phase's scale): 15-25 s on a
# 2-core machine, and enough to reach every answer the run can give (asserted
# below). The coverage phase (boundaries, missing and wrong-typed values,
# unexpected methods) is complete whatever the count.
MAX_EXAMPLES = 100
TIMEOUT = 600  # seconds: only a hung run gets here

# The address the hook's logins come from (through the trusted proxy 127.0.0.1):
# schemathesis's requests come from 127.0.0.1 itself, so its failed logins
# and sign-ups are counted there, never against the hook.
HOOK_ADDRESS = "192.0.2.7"
EMAIL, PASSWORD = "schemathesis@example.com", "schemathesis-password"

# Every check schemathesis has (`--checks all`, the hooks' two included), none
# excluded but ensure_resource_availability on v1's operations on one file, which
# cannot see a trash through v2 (schemathesis.toml says why). No
# --max-response-time: a time limit would pass or fail with the machine's load;
# speed is measured by bench/.

# Documented answers the run cannot give, each made by a test of its own:
# a fault's (a stalled or oversized body, Redis or the database down, a full
# disk: test_slow_clients, test_upload_streaming, test_json_upload,
# test_storage_failures, test_disk_full) ...
FAULTS = {408, 413, 503, 507}
# ... and 429 on /connect: schemathesis's wrong Authorization headers are never
# well-formed Basic credentials, the only kind counted as failed logins
# (test_brute_force).
NOT_REACHED = {("GET /connect", 429)}
# ... and sign-ups refused while security.signup is closed (the service here
# has it open; test_v2_accounts closes it).
NOT_REACHED |= {("POST /users", 403), ("POST /v2/users", 403)}
# ... and /metrics while metrics.token is not set (the service here has one; tests/metrics has not).
NOT_REACHED |= {("GET /metrics", 404)}
# ... and content answered with a redirect, which needs content in S3 and blobs.redirect_downloads
# (the service here keeps it in a folder; tests/api/test_s3_content.py follows the redirects).
NOT_REACHED |= {("GET /files/{id}/data", 302), ("GET /v2/files/{id}/content", 302), ("GET /s/{token}", 302),
                ("GET /s/{token}/{file_id}", 302)}
METRICS_TOKEN = "schemathesis-metrics-token"


@pytest.fixture
def service(tmp_path: Path):
    (tmp_path / "redis").mkdir()
    (tmp_path / "service").mkdir()
    with private_redis(tmp_path / "redis") as (redis_url, _), \
            running_service(tmp_path / "service", redis_url, TRUSTED_PROXIES="127.0.0.1",
                            METRICS_TOKEN=METRICS_TOKEN) as live:
        yield live


def _prepared_files(url: str) -> dict[str, str]:
    """What of the account the hooks' explicit examples use: a text file, one in the trash, a folder,
    and a link to the text file (to revoke)."""
    token = requests.get(f"{url}/connect", auth=(EMAIL, PASSWORD), headers={"X-Forwarded-For": HOOK_ADDRESS},
                         timeout=10).json()["token"]
    ids = []
    for name, kind in (("prepared.txt", "file"), ("trashed.txt", "file"), ("prepared", "folder")):
        body = {"name": name, "type": kind, **({"data": "aGVsbG8="} if kind == "file" else {})}
        resp = requests.post(f"{url}/files", headers={"X-Token": token}, timeout=10, json=body)
        assert resp.status_code == 201, resp.text
        ids.append(resp.json()["id"])
    assert requests.delete(f"{url}/v2/files/{ids[1]}", headers={"X-Token": token}, timeout=10).status_code == 204
    link = requests.post(f"{url}/v2/files/{ids[0]}/links", headers={"X-Token": token}, json={}, timeout=10)
    assert link.status_code == 201, link.text
    return {"FM_OPENAPI_TEXT_FILE": ids[0], "FM_OPENAPI_TRASHED_FILE": ids[1], "FM_OPENAPI_FOLDER": ids[2],
            "FM_OPENAPI_LINK": link.json()["id"]}


def _schemathesis(url: str, workdir: Path, upload_parts: Path) -> subprocess.CompletedProcess[str]:
    reports = workdir / "reports"
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(HERE / "schemathesis.toml"),
        "run", f"{url}/openapi.json",
        "--checks", "all",
        "--seed", str(SEED), "--max-examples", str(MAX_EXAMPLES),
        "--workers", "1", "--no-color",
        "--report", "junit", "--report-junit-path", str(reports / "junit.xml"),
    ]
    env = {  # not the caller's environment: no SCHEMATHESIS_* or HYPOTHESIS_* setting of theirs applies
        "PATH": os.environ.get("PATH", ""), "HOME": str(workdir),
        "SCHEMATHESIS_HOOKS": str(HERE / "openapi_hooks.py"),
        "FM_OPENAPI_URL": url, "FM_OPENAPI_EMAIL": EMAIL, "FM_OPENAPI_PASSWORD": PASSWORD,
        "FM_OPENAPI_HOOK_ADDRESS": HOOK_ADDRESS, "FM_OPENAPI_UPLOAD_PARTS": str(upload_parts),
        "FM_OPENAPI_METRICS_TOKEN": METRICS_TOKEN, **_prepared_files(url),
    }
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=TIMEOUT)


def _statuses(log: Path) -> Counter[tuple[str, int]]:
    """(method and route template, status) of every request line the service wrote."""
    seen: Counter[tuple[str, int]] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "request":
            seen[(f"{event['method']} {event['route']}", event["status"])] += 1
    return seen


def test_the_service_answers_as_its_openapi_document_says(service, tmp_path: Path):
    resp = requests.post(f"{service.url}/users", json={"email": EMAIL, "password": PASSWORD},
                         headers={"X-Forwarded-For": HOOK_ADDRESS}, timeout=10)
    assert resp.status_code == 201, resp.text

    run = _schemathesis(service.url, tmp_path, parts_folder(service.settings.storage.folder_path))

    output = run.stdout[-20000:] + run.stderr[-5000:]
    junit = tmp_path / "reports" / "junit.xml"
    assert junit.exists(), output
    suites = ET.parse(junit).getroot()
    assert (suites.get("failures"), suites.get("errors")) == ("0", "0"), output
    assert run.returncode == 0, output

    statuses = _statuses(service.log)
    server_errors = {key: n for key, n in statuses.items() if key[1] >= 500}
    assert not server_errors, f"{server_errors}\n{output}"
    assert '"request.error"' not in service.log.read_text(errors="replace")
    # The run reached every answer it can: nothing stood in its way (a lost token, a limit).
    documented = {(f"{method.upper()} {path}", int(status))
                  for path, ops in SPEC["paths"].items() for method, op in ops.items() for status in op["responses"]}
    reachable = {(label, status) for label, status in documented if status not in FAULTS} - NOT_REACHED
    assert reachable <= set(statuses), sorted(reachable - set(statuses))
