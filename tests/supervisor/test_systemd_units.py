"""deploy/files-manager.service and .socket: what the supervisor relies on is
set, `systemd-analyze verify` finds nothing to say, and the hardening they
promise holds (the service runs under the kernel's MemoryDenyWriteExecute)."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from .conftest import ROOT, Service, public_file

DEPLOY = ROOT / "deploy"
AS_SYSTEMD = Path(__file__).with_name("as_systemd.py")
INSTALLED = "/opt/files-manager"  # where the units expect the checkout (README)


def directives(path: Path) -> dict[str, list[str]]:
    """key -> every value it is given (systemd allows a key more than once)."""
    found: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_the_service_unit_sets_what_the_supervisor_relies_on():
    unit = directives(DEPLOY / "files-manager.service")
    one = {key: values[-1] for key, values in unit.items()}
    assert one["Type"] == "notify"
    assert one["NotifyAccess"] == "all"  # the upgraded master's MAINPID=
    assert one["KillMode"] == "mixed"
    assert one["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert one["ExecStart"] == f"{INSTALLED}/.venv/bin/python {INSTALLED}/supervisor.py"
    assert "files-manager.socket" in one["Requires"] and "files-manager.socket" in one["After"]
    graceful = next(float(item.split("=")[1]) for value in unit["Environment"]
                    for item in value.split() if item.startswith("GRACEFUL_TIMEOUT="))
    assert float(one["TimeoutStopSec"]) > graceful  # the master's own timeout acts first
    assert float(one["WatchdogSec"]) > 0
    for key in ("NoNewPrivileges", "PrivateTmp", "ProtectHome", "ProtectKernelTunables",
                "ProtectKernelModules", "LockPersonality", "MemoryDenyWriteExecute"):
        assert one[key] == "yes", key
    assert one["ProtectSystem"] == "strict" and one["SystemCallFilter"]
    assert "/var/lib/files-manager" in one["ReadWritePaths"]
    for value in unit["Environment"]:  # the data goes where the service may write
        for item in value.split():
            if item.startswith(("FOLDER_PATH=", "DB_URL=")):
                assert "/var/lib/files-manager/" in item
    socket_unit = directives(DEPLOY / "files-manager.socket")
    assert len(socket_unit["ListenStream"]) == 1  # the master takes exactly one socket


def test_systemd_analyze_verifies_both_units_without_a_word(tmp_path):
    binary = shutil.which("systemd-analyze")
    if binary is None:
        pytest.skip("systemd-analyze is not installed (no systemd on this machine)")
    # The units name the installed paths; verify checks that ExecStart exists,
    # so the copy points at this checkout instead.
    for name in ("files-manager.service", "files-manager.socket"):
        text = (DEPLOY / name).read_text()
        if name.endswith(".service"):
            changed = text.replace(f"{INSTALLED}/.venv/bin/python", sys.executable).replace(
                f"{INSTALLED}/supervisor.py", str(ROOT / "supervisor.py"))
            assert changed != text
            text = changed
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        [binary, "verify", "files-manager.socket", "files-manager.service"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


async def test_the_service_runs_under_memory_deny_write_execute(sup_env):
    """MemoryDenyWriteExecute=yes is only in the unit because this passes: the
    kernel refuses writable+executable memory to the master and every child
    (as_systemd.py exits 1 if it cannot set that; fork and exec keep it)."""
    service = Service({**sup_env, "JOB_WORKERS": "1"}, [],
                      command=[sys.executable, str(AS_SYSTEMD), "--mdwe", "--"])
    try:
        await asyncio.to_thread(service.ready)
        async with aiohttp.ClientSession() as session:
            # argon2 (cffi), SQLite, the upload path and Pillow's import in the job worker
            file_id = await public_file(session, service.url, b"hello")
            async with session.get(f"{service.url}/files/{file_id}/data") as resp:
                assert resp.status == 200 and await resp.read() == b"hello"
        assert [e for e in service.events if e.get("level") == "error"] == []
        service.signal(signal.SIGTERM)
        assert await asyncio.to_thread(service.wait_exit) == 0
    finally:
        service.kill_everything()
