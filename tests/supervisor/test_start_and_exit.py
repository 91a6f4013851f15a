"""Start-up, clean exit, exit codes 2 and 3, process titles."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import urllib.request

from .conftest import ROOT, alive, wait_until


def cmdline(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        return fh.read().replace(b"\0", b" ").decode().strip()


def test_clean_sigint_exits_0_with_the_lifecycle_events(start_service):
    service = start_service().ready()
    with urllib.request.urlopen(f"{service.url}/status", timeout=5) as resp:
        assert resp.status == 200
    pids = service.children()
    assert len(pids) == 2
    service.signal(signal.SIGINT)
    assert service.wait_exit() == 0
    names = [e.get("event") for e in service.events]
    for name in ("master.start", "child.spawn", "master.ready", "shutdown.start", "child.exit", "exit"):
        assert name in names, name
    assert names.index("master.ready") < names.index("shutdown.start") < names.index("exit")
    assert service.wait_for("shutdown.start")["reason"] == "signal SIGINT"
    assert service.wait_for("exit")["code"] == 0
    assert all(e.get("code") == 0 for e in service.named("child.exit"))
    assert not any(alive(pid) for pid in pids)


def test_sigterm_is_graceful_too(start_service):
    service = start_service().ready()
    service.signal(signal.SIGTERM)
    assert service.wait_exit() == 0
    assert service.wait_for("shutdown.start")["reason"] == "signal SIGTERM"


def test_every_process_says_its_role(start_service):
    service = start_service(JOB_WORKERS="0", API_WORKERS="2").ready()
    assert cmdline(service.proc.pid) == "files-manager: master"
    titles = sorted(cmdline(pid) for pid in service.children("api"))
    assert titles == ["files-manager: api worker 1", "files-manager: api worker 2"]
    service.signal(signal.SIGINT)
    assert service.wait_exit() == 0


def test_flags_override_settings(start_service, sup_env):
    from tests.conftest import free_port

    port = free_port()
    service = start_service("--port", str(port), "--workers", "1", "--job-workers", "0").ready()
    assert service.wait_for("master.start")["port"] == port
    assert len(service.children("api")) == 1
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as resp:
        assert resp.status == 200
    service.signal(signal.SIGINT)
    assert service.wait_exit() == 0


def test_port_in_use_exits_3_naming_the_port(start_service, sup_env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        service = start_service(HOST="127.0.0.1", PORT=str(port))
        assert service.wait_exit() == 3
    assert f"127.0.0.1:{port}" in "".join(service.stderr)
    assert service.named("child.spawn") == []


def test_bad_config_exits_2_with_one_line(start_service):
    service = start_service(API_WORKERS="-1")
    assert service.wait_exit() == 2
    lines = "".join(service.stderr).strip().splitlines()
    assert len(lines) == 1 and "API_WORKERS" in lines[0]


def test_missing_config_file_and_bad_flag_exit_2(start_service, tmp_path):
    service = start_service("--config", str(tmp_path / "nope.toml"))
    assert service.wait_exit() == 2
    assert "nope.toml" in "".join(service.stderr)
    bad = start_service("--workers", "many")
    assert bad.wait_exit() == 2


def test_help_documents_every_flag(sup_env):
    out = subprocess.run([sys.executable, "supervisor.py", "--help"], cwd=ROOT, env=sup_env,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    for flag in ("--config", "--port", "--workers", "--job-workers", "--host",
                 "--graceful-timeout", "SIGHUP", "SIGTTIN", "Exit codes"):
        assert flag in out.stdout, flag


def test_redis_unreachable_exits_3_naming_it(start_service):
    from tests.conftest import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"
    service = start_service(REDIS_URL=dead, START_TIMEOUT="0.5")
    assert service.wait_exit() == 3
    err = "".join(service.stderr)
    assert "Redis" in err and dead in err
    assert service.named("child.spawn") == []


def test_database_unreachable_exits_3_naming_it(start_service, tmp_path):
    url = f"sqlite:///{tmp_path / 'not-a-folder' / 'x' / 'db.sqlite3'}"
    (tmp_path / "not-a-folder").write_text("a file, not a folder")
    service = start_service(DB_URL=url, START_TIMEOUT="0.5")
    assert service.wait_exit() == 3
    err = "".join(service.stderr)
    assert "database" in err and "not-a-folder" in err


def test_master_sigkilled_leaves_no_child(start_service):
    service = start_service().ready()
    pids = service.children()
    assert pids and all(alive(pid) for pid in pids)
    service.signal(signal.SIGKILL)
    assert service.wait_exit() == -signal.SIGKILL  # the shell shows 128+9
    wait_until(lambda: not any(alive(pid) for pid in pids), 10, "children to follow the master")


def listening_inode(port: int) -> str:
    with open("/proc/net/tcp") as fh:
        for line in fh.readlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":  # LISTEN
                return fields[9]
    raise AssertionError(f"nothing listens on {port}")


def socket_inodes(pid: int) -> set[str]:
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                found.add(target[8:-1])
    return found


def test_only_api_workers_hold_the_listening_socket(start_service):
    """A job worker holding it would keep the port queueing connections after
    every API worker stopped accepting (they would be reset, not refused)."""
    service = start_service(JOB_WORKERS="1", HOST="127.0.0.1").ready()
    inode = listening_inode(service.port)
    assert all(inode in socket_inodes(pid) for pid in service.children("api"))
    [job] = service.children("job")
    assert inode not in socket_inodes(job)
    service.signal(signal.SIGINT)
    assert service.wait_exit() == 0
