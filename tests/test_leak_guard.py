"""The suite's guard (tests/conftest.py): a run that leaves a process behind
fails, names it with its test, and kills it, orphans included."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_pytest(folder: Path, source: str) -> subprocess.CompletedProcess:
    (folder / "test_inner.py").write_text(source)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-p", "no:cacheprovider",
         "--rootdir", str(folder), str(folder / "test_inner.py")],
        cwd=ROOT, capture_output=True, text=True, timeout=120)


def running(tag: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", tag], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


def test_a_process_left_behind_fails_the_run_and_is_killed(tmp_path):
    tag = f"{uuid.uuid4().int % 10**6}.{uuid.uuid4().int % 10**6}"  # a unique `sleep` argument
    result = run_pytest(tmp_path, f"""
import subprocess

def test_leaves_a_child():
    subprocess.Popen(["sleep", "{tag}1"])

def test_leaves_an_orphan():  # its parent exits at once: re-parented to the test process, still found
    subprocess.run(["sh", "-c", "sleep {tag}2 & exit 0"], check=True)

def test_cleans_up():
    proc = subprocess.Popen(["sleep", "30"])
    proc.kill()
    proc.wait()
""")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "3 passed" in result.stdout
    assert "2 process(es) started by the tests outlived them (killed now)" in result.stdout
    assert f"sleep {tag}1 (alive after test_inner.py::test_leaves_a_child)" in result.stdout
    assert f"sleep {tag}2 (alive after test_inner.py::test_leaves_an_orphan)" in result.stdout
    assert running(tag) == []


def test_a_run_that_ends_what_it_starts_passes(tmp_path):
    result = run_pytest(tmp_path, """
import subprocess

def test_waits():
    subprocess.run(["true"], check=True)
""")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "outlived" not in result.stdout
