"""`python supervisor.py migrate`: bring the database's schema up to date
(shared/storage/schema.py) and say what was done."""

from __future__ import annotations

import argparse

from shared.config import Settings, redact
from shared.storage.schema import schema_of

from .output import EXIT_OK, EXIT_PROBLEM, Output

HELP = "bring the database's schema up to date (safe to run again, and on several nodes at once)"
DESCRIPTION = """\
Bring the database named by DB_URL up to date, as the service also does when
it starts (unless DB_MIGRATE=manual). SQLite: the missing numbered
migrations, in order, in one transaction under the database's write lock (a
second node running it at the same time waits, then finds nothing to do).
PostgreSQL: the same, under an advisory lock (pg_advisory_xact_lock).
MongoDB: the indexes the queries need, created if missing. Running it again
does nothing. Exit 1 if the database does not answer, is newer than this
version knows, or an index could not be created."""


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("migrate", parents=[common], help=HELP, description=DESCRIPTION,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    url = settings.storage.db_url
    done = await schema_of(url).migrate(url)
    data = {"backend": done.backend, "database": redact(url), "fromVersion": done.from_version,
            "toVersion": done.to_version, "applied": list(done.applied), "failed": list(done.failed)}
    if done.from_version is not None:
        head = (f"{redact(url)}: schema version {done.from_version} -> {done.to_version}" if done.applied
                else f"{redact(url)}: schema version {done.to_version}, nothing to migrate")
    else:
        head = (f"{redact(url)}: {len(done.applied)} index(es) created" if done.applied
                else f"{redact(url)}: every index present, nothing to migrate")
    verb = "applied" if done.from_version is not None else "created"
    out.result(data, "\n".join([head, *(f"  {verb} {step}" for step in done.applied)]))
    for index in done.failed:
        out.problem(f"could not create {index} (see the warning above)")
    return EXIT_PROBLEM if done.failed else EXIT_OK
