"""PostgreSQL for tests and benchmarks: a database of its own on the server of
the machine, made with a unique name and dropped afterwards.

The server is FM_TEST_PG_URL's, else postgresql://postgres@127.0.0.1:5432/postgres
(what `scripts/bootstrap --test` installs and starts). No PostgreSQL answering
is a failure saying so, never a skip: CI has one, and a backend untested
must not look like a green run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest

PG_ENV = "FM_TEST_PG_URL"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
NO_PG = ("PostgreSQL does not answer at {url} ({error}): run `scripts/bootstrap --test`, which installs"
         " and starts it (or set " + PG_ENV + " to a server's URL)")


def server_url() -> str:
    return os.environ.get(PG_ENV) or DEFAULT_PG_URL


def database_url(server: str, name: str) -> str:
    """`server`'s URL naming database `name` instead (user, host and options kept)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(server)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


class NoPostgres(Exception):
    """No PostgreSQL server answers at the URL (the message says how to get one)."""


async def _admin(server: str, statement: str) -> None:
    import asyncpg

    try:
        conn = await asyncpg.connect(server, timeout=10)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        raise NoPostgres(NO_PG.format(url=server, error=exc or type(exc).__name__)) from exc
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _run(coro) -> None:  # type: ignore[no-untyped-def]
    """Run `coro` to its end whether or not an event loop runs in this thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    import threading

    failure: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


@contextlib.contextmanager
def pg_database(server: str | None = None, prefix: str = "fm_test") -> Iterator[str]:
    """The URL of a new, empty database on `server` (default: server_url()),
    dropped, whoever is still connected to it, when the block ends.
    Raises NoPostgres when no server answers."""
    server = server or server_url()
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    _run(_admin(server, f'CREATE DATABASE "{name}"'))
    try:
        yield database_url(server, name)
    finally:
        _run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def pg_db_url() -> Iterator[str]:
    """A fresh PostgreSQL database for the test, dropped afterwards; the test
    fails (never skips) when no server answers."""
    try:
        with pg_database() as url:
            yield url
    except NoPostgres as exc:
        pytest.fail(str(exc))
