"""`python supervisor.py users ...` run as a process, on each backend, with
what it changed read back from the database and Redis themselves."""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import subprocess
import sys
import termios
import time
from collections.abc import Iterator

import pytest

from shared.jobs import WELCOME, Job, stream_of, welcome_job
from shared.passwords import PasswordHasher
from shared.storage import Storage, User, open_storage
from shared.tokens import KEY_PREFIX, TokenStore
from tests.conftest import PROJECT, free_port

from .conftest import acli, cli

PASSWORD = "correct horse battery"


async def add(env: dict[str, str], email: str, password: str = PASSWORD) -> str:
    done = await acli(env, "users", "add", email, "--password-stdin", "--json", stdin=password + "\n")
    assert done.code == 0, done.stderr
    return done.json()["id"]


async def user(storage: Storage, email: str) -> User:
    found = await storage.user_by_email(email)
    assert found is not None
    return found


async def test_add_creates_the_account_with_its_welcome_job(env, storage, redis):
    done = await acli(env, "users", "add", "ann@example.com", "--password-stdin", stdin=PASSWORD + "\n")
    assert done.code == 0, done.stderr
    ann = await user(storage, "ann@example.com")
    assert done.stdout == f"added ann@example.com (id {ann.id})\n"
    hasher = PasswordHasher(1, 64, 1)
    try:
        assert await hasher.verify(ann.password_hash, PASSWORD)  # the line end is not part of it
    finally:
        hasher.close()
    ((_, fields),) = await redis.xrange(stream_of(WELCOME))
    assert Job.from_fields(WELCOME, fields) == welcome_job(ann.id).__class__(  # as a sign-up does
        WELCOME, {"userId": ann.id}, 0, Job.from_fields(WELCOME, fields).first_at)


async def test_add_works_with_sign_up_closed(env, storage):
    await add({**env, "SIGNUP": "closed"}, "op@example.com")
    assert await storage.user_by_email("op@example.com") is not None


@pytest.mark.parametrize(("email", "password", "message"), [
    ("not-an-email", PASSWORD, "Invalid email"),
    ("bob@example.com", "short", "Password too short"),
    ("bob@example.com", "x" * 1025, "Password too long"),
    ("bob@example.com", "", "Password too short"),  # an empty stdin
])
async def test_add_refuses_what_the_api_refuses(env, storage, redis, email, password, message):
    done = await acli(env, "users", "add", email, "--password-stdin", stdin=password)
    assert (done.code, done.stdout) == (2, "")
    assert message in done.stderr
    assert await storage.count_users() == 0 and await redis.xlen(stream_of(WELCOME)) == 0


async def test_add_of_a_taken_email_is_a_problem_not_a_usage_error(env, storage):
    await add(env, "ann@example.com")
    done = await acli(env, "users", "add", "ANN@example.com", "--password-stdin", stdin=PASSWORD)
    assert (done.code, done.stdout) == (1, "")
    assert "exists already" in done.stderr
    assert await storage.count_users() == 1


def test_add_without_a_terminal_asks_for_password_stdin(sqlite_env):
    done = cli(sqlite_env, "users", "add", "ann@example.com")  # stdin is a pipe: nobody to ask
    assert done.code == 2 and "--password-stdin" in done.stderr


@contextlib.contextmanager
def on_a_terminal(env: dict[str, str], *args: str) -> Iterator[tuple[subprocess.Popen, int]]:
    """The command with a pseudo-terminal as its controlling terminal (where getpass asks)."""
    primary, secondary = os.openpty()

    def take_the_terminal() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen([sys.executable, str(PROJECT / "supervisor.py"), *args], cwd=PROJECT,
                            env={**os.environ, **env}, stdin=secondary, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, preexec_fn=take_the_terminal)
    os.close(secondary)
    try:
        yield proc, primary
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        os.close(primary)


def answer(primary: int, prompt: str, text: str) -> None:
    """Wait for `prompt` on the terminal, then type `text` and Enter."""
    seen = b""
    deadline = time.monotonic() + 60
    while prompt.encode() not in seen:
        assert time.monotonic() < deadline, f"no {prompt!r} on the terminal, saw {seen!r}"
        ready, _, _ = select.select([primary], [], [], 1)
        if ready:
            seen += os.read(primary, 1024)
    os.write(primary, text.encode() + b"\n")


async def test_add_asks_the_password_twice_on_the_terminal(sqlite_env):
    with on_a_terminal(sqlite_env, "users", "add", "ann@example.com") as (proc, primary):
        answer(primary, "New password:", PASSWORD)
        answer(primary, "Once more:", PASSWORD)
        assert proc.wait(60) == 0
        assert proc.stdout is not None and proc.stdout.read().decode().startswith("added ann@example.com")
    with on_a_terminal(sqlite_env, "users", "add", "bob@example.com") as (proc, primary):
        answer(primary, "New password:", PASSWORD)
        answer(primary, "Once more:", PASSWORD + "!")
        assert proc.wait(60) == 2
        assert proc.stderr is not None and "differ" in proc.stderr.read().decode()
    listed = (await acli(sqlite_env, "users", "list", "--json")).json()
    assert [row["email"] for row in listed] == ["ann@example.com"]


async def test_list_shows_every_account(env, storage):
    assert (await acli(env, "users", "list")).stdout.split() == ["id", "email", "created", "quota", "used",
                                                                 "disabled"]
    assert (await acli(env, "users", "list", "--json")).json() == []
    first = await add(env, "ann@example.com")
    second = await add(env, "bob@example.com")
    await storage.set_quota(second, 1536)
    await storage.set_disabled(second, True)
    sqlite_env = {**env, "DEFAULT_QUOTA": str(10 * 1024**3)}

    rows = (await acli(sqlite_env, "users", "list", "--json")).json()
    expected = sorted([(first, "ann@example.com", 10 * 1024**3, None, 0, False),
                       (second, "bob@example.com", 1536, 1536, 0, True)])  # by id: creation, to the second
    assert [(r["id"], r["email"], r["quotaBytes"], r["ownQuotaBytes"], r["usedBytes"], r["disabled"])
            for r in rows] == expected
    assert all(r["createdAt"].endswith("Z") for r in rows)

    text = (await acli(sqlite_env, "users", "list")).stdout.splitlines()
    assert len(text) == 3
    lines = {line.split()[1]: line for line in text[1:]}
    assert lines["ann@example.com"].split()[0] == first and "10.0 GiB (default)" in lines["ann@example.com"]
    assert lines["bob@example.com"].split()[-1] == "yes" and "1.5 KiB" in lines["bob@example.com"]
    assert [line.split()[0] for line in text[1:]] == sorted([first, second])


async def test_disable_ends_every_token_and_enable_brings_back_logins(env, storage, redis):
    ann_id = await add(env, "ann@example.com")
    bob_id = await add(env, "bob@example.com")
    tokens = TokenStore(redis, 3600)
    ann_tokens = [(await tokens.issue(ann_id)).token for _ in range(3)]
    bob_token = (await tokens.issue(bob_id)).token

    done = await acli(env, "users", "disable", "ann@example.com")
    assert done.code == 0, done.stderr
    assert done.stdout == "disabled ann@example.com: 3 token(s) ended\n"
    assert [await tokens.user_id(t) for t in ann_tokens] == [None, None, None]
    assert await tokens.user_id(bob_token) == bob_id  # only hers
    assert (await user(storage, "ann@example.com")).disabled

    again = (await acli(env, "users", "disable", "ann@example.com", "--json")).json()
    assert (again["disabled"], again["tokensEnded"]) == (True, 0)

    enabled = await acli(env, "users", "enable", "ann@example.com", "--json")
    assert enabled.code == 0 and enabled.json()["disabled"] is False
    assert not (await user(storage, "ann@example.com")).disabled


async def test_reset_password_sets_it_and_ends_every_token(env, storage, redis):
    ann_id = await add(env, "ann@example.com")
    tokens = TokenStore(redis, 3600)
    token = (await tokens.issue(ann_id)).token
    done = await acli(env, "users", "reset-password", "ann@example.com", "--password-stdin", "--json",
               stdin="a new password\n")
    assert done.code == 0, done.stderr
    assert done.json()["tokensEnded"] == 1
    assert await redis.exists(KEY_PREFIX + token) == 0
    hasher = PasswordHasher(1, 64, 1)
    try:
        stored = (await user(storage, "ann@example.com")).password_hash
        assert await hasher.verify(stored, "a new password")
        assert not await hasher.verify(stored, PASSWORD)
    finally:
        hasher.close()

    short = await acli(env, "users", "reset-password", "ann@example.com", "--password-stdin", stdin="short")
    assert short.code == 2 and "Password too short" in short.stderr
    assert (await user(storage, "ann@example.com")).password_hash == stored


async def test_with_redis_down_the_change_stands_and_the_operator_is_told_to_run_again(sqlite_env, tmp_path):
    await add(sqlite_env, "ann@example.com")
    down = {**sqlite_env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    done = await acli(down, "users", "disable", "ann@example.com")
    assert (done.code, done.stdout) == (1, "")
    assert "ann@example.com is disabled (no login), but its tokens could not be ended" in done.stderr
    assert "run the command again" in done.stderr
    storage = await open_storage(sqlite_env["DB_URL"])
    try:
        assert (await user(storage, "ann@example.com")).disabled
    finally:
        await storage.close()
    assert (await acli(sqlite_env, "users", "disable", "ann@example.com")).code == 0  # and again it is


@pytest.mark.parametrize(("given", "stored"), [
    ("1048576", 1048576), ("500M", 500 * 1024**2), ("10G", 10 * 1024**3), ("1.5T", int(1.5 * 1024**4)),
    ("10GiB", 10 * 1024**3), ("0", 0),
])
async def test_set_quota_takes_bytes_or_a_size(env, storage, given, stored):
    ann_id = await add(env, "ann@example.com")
    done = await acli(env, "users", "set-quota", "ann@example.com", given, "--json")
    assert done.code == 0, done.stderr
    assert done.json()["ownQuotaBytes"] == stored
    assert (await storage.usage(ann_id)).quota_bytes == stored


async def test_set_quota_none_goes_back_to_the_default(env, storage):
    ann_id = await add(env, "ann@example.com")
    await storage.set_quota(ann_id, 5)
    sqlite_env = {**env, "DEFAULT_QUOTA": "2048"}
    done = await acli(sqlite_env, "users", "set-quota", "ann@example.com", "none")
    assert done.code == 0, done.stderr
    assert done.stdout == "quota of ann@example.com: 2.0 KiB (default)\n"
    assert (await storage.usage(ann_id)).quota_bytes is None


@pytest.mark.parametrize("bad", ["-1", "10X", "1.5", "G", "ten", "99999999999T"])
async def test_set_quota_refuses_what_is_not_a_size(env, storage, bad):
    ann_id = await add(env, "ann@example.com")
    done = await acli(env, "users", "set-quota", "ann@example.com", bad)
    assert (done.code, done.stdout) == (2, "")
    assert "Invalid size" in done.stderr or "unrecognized arguments" in done.stderr or "expected" in done.stderr
    assert (await storage.usage(ann_id)).quota_bytes is None


@pytest.mark.parametrize("command", [
    ("disable",), ("enable",), ("set-quota", "EMAIL", "1G"), ("reset-password", "--password-stdin"),
])
def test_an_unknown_email_is_a_problem_said_on_stderr(env, command):
    args = ["users", command[0], "nobody@example.com", *(a for a in command[1:] if a != "EMAIL")]
    done = cli(env, *args, "--json", stdin=PASSWORD)
    assert (done.code, done.stdout) == (1, "")
    assert done.stderr == "supervisor.py: No user with the email 'nobody@example.com'\n"


async def test_stdout_is_the_answer_alone_even_when_verbose(sqlite_env, tmp_path):
    """A new database logs its migrations at info: on stderr, never in the answer."""
    fresh = {**sqlite_env, "DB_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}"}
    done = await acli(fresh, "users", "list", "--json", "--verbose")
    assert (done.code, done.json()) == (0, [])  # nothing else on stdout
    assert '"event":"storage.sqlite.migrated"' in done.stderr
    quiet = await acli({**sqlite_env, "DB_URL": f"sqlite:///{tmp_path / 'other.sqlite3'}"}, "users", "list", "--json")
    assert (quiet.code, quiet.json(), quiet.stderr) == (0, [], "")  # warnings only by default


@pytest.mark.parametrize("action", ["add", "list", "disable", "enable", "reset-password", "set-quota"])
def test_each_action_says_what_it_does(sqlite_env, action):
    done = cli(sqlite_env, "users", action, "--help")
    assert done.code == 0 and "--json" in done.stdout and len(done.stdout.splitlines()) > 4


def test_bad_usage_exits_2(sqlite_env):
    assert cli(sqlite_env, "users").code == 2
    assert cli(sqlite_env, "users", "frobnicate").code == 2
    assert cli(sqlite_env, "users", "disable").code == 2  # no email
    assert cli({**sqlite_env, "PORT": "not a port"}, "users", "list").code == 2  # a bad configuration
