"""`python supervisor.py users ...`: the operator's accounts (add, list,
disable, enable, reset-password, set-quota); the rules are
shared/domain/account_admin.py's, this module reads arguments and prints."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError

from shared.config import Settings
from shared.domain.account_admin import AccountAdmin, Changed
from shared.domain.accounts import valid_email
from shared.domain.quotas import effective_quota
from shared.enqueuer import Enqueuer
from shared.errors import Invalid
from shared.passwords import PasswordHasher
from shared.redis_client import open_redis
from shared.redis_get import PipelinedGet
from shared.storage import Usage, User, open_configured_storage
from shared.tokens import TokenStore

from .output import EXIT_OK, Output, Problem
from .sizes import human_size, parse_size

HELP = "manage accounts: add, list, disable, enable, reset-password, set-quota"
_PASSWORD_STDIN = "read the password from the first line of stdin instead of asking twice on the terminal"


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "users", help=HELP, description=f"Accounts: {HELP}. An account is named by its email.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, handler: Any, description: str, email: bool = True) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, parents=[common], help=description, description=description)
        if email:
            sub.add_argument("email", metavar="EMAIL")
        sub.set_defaults(handler=handler)
        return sub

    add = action("add", _add, "Add an account (also when sign-up is closed), with its welcome job, as a "
                              "sign-up does: the email must look like one, the password 8 to 1024 characters.")
    add.add_argument("--password-stdin", action="store_true", help=_PASSWORD_STDIN)
    action("list", _list, "List every account by id (creation time, to the second): id, email, created, "
                          "quota, used, disabled.", email=False)
    action("disable", _disable, "Disable an account: it can no longer log in, and every token it has "
                                "stops working at once, in every process.")
    action("enable", _enable, "Enable a disabled account again (its old tokens stay ended).")
    reset = action("reset-password", _reset_password, "Set a new password (8 to 1024 characters); every "
                                                       "token of the account stops working at once.")
    reset.add_argument("--password-stdin", action="store_true", help=_PASSWORD_STDIN)
    quota = action("set-quota", _set_quota, "Set the account's own quota (its live and trashed bytes), or "
                                            "`none` to go back to DEFAULT_QUOTA.")
    quota.add_argument("quota", metavar="BYTES|none",
                       help="bytes (1073741824) or a size: 500M, 10G, 1.5T (powers of 1024); none: the default")


@asynccontextmanager
async def _admin(settings: Settings) -> AsyncIterator[AccountAdmin]:
    """The backends an account change needs, as an API process has them:
    token deletions through the same caching client, so a disabled user's
    tokens are refused by every API process once the command returns."""
    security = settings.security
    storage = await open_configured_storage(settings.storage)
    redis = open_redis(settings.redis.url)
    fast = PipelinedGet(settings.redis.url) if PipelinedGet.supports(settings.redis.url) else None
    passwords = PasswordHasher(security.argon2_time_cost, security.argon2_memory_kib, security.hash_threads)
    try:
        async with Enqueuer(redis, settings.redis.replica_wait_timeout) as enqueuer:
            yield AccountAdmin(storage, passwords, TokenStore(redis, security.token_ttl, cached=fast), enqueuer)
    finally:
        passwords.close()
        if fast is not None:
            await fast.aclose()
        await redis.aclose()
        await storage.close()


def read_password(from_stdin: bool) -> str:
    """The new password: stdin's first line (without its line end), or asked twice on the terminal."""
    if from_stdin:
        line = sys.stdin.readline()
        return line.removesuffix("\n").removesuffix("\r")
    if not sys.stdin.isatty():
        raise Invalid("No terminal to ask the password on: pipe it in with --password-stdin")
    first = getpass.getpass("New password: ")
    if getpass.getpass("Once more: ") != first:
        raise Invalid("The two passwords differ: nothing changed")
    return first


def _time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def account(user: User, usage: Usage, default_quota: int) -> dict[str, Any]:
    """An account as --json shows it: `quotaBytes` is the quota that applies
    (null: unlimited), as on /v2/users/me; `ownQuotaBytes` the one set here
    (null: DEFAULT_QUOTA applies)."""
    return {
        "id": user.id, "email": user.email, "createdAt": _time(user.created_at),
        "quotaBytes": effective_quota(usage.quota_bytes, default_quota), "ownQuotaBytes": usage.quota_bytes,
        "usedBytes": usage.used_bytes, "disabled": user.disabled,
    }


def _quota_text(row: dict[str, Any]) -> str:
    quota = row["quotaBytes"]
    if quota is None:
        return "unlimited"
    return human_size(quota) + ("" if row["ownQuotaBytes"] is not None else " (default)")


_COLUMNS = ("id", "email", "created", "quota", "used", "disabled")


def table(rows: list[dict[str, Any]]) -> str:
    cells = [_COLUMNS] + [
        (r["id"], r["email"], r["createdAt"], _quota_text(r), human_size(r["usedBytes"]),
         "yes" if r["disabled"] else "no")
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(_COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)


async def _changed(admin: AccountAdmin, settings: Settings, out: Output, changed: Changed, said: str) -> int:
    user = changed.user
    row = {**account(user, await admin.usage_of(user), settings.storage.default_quota),
           "tokensEnded": changed.tokens_ended}
    out.result(row, said)
    return EXIT_OK


async def _add(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    email = valid_email(args.email)  # before asking anything
    password = read_password(args.password_stdin)
    async with _admin(settings) as admin:
        user = await admin.add(email, password)
        return await _changed(admin, settings, out, Changed(user), f"added {user.email} (id {user.id})")


async def _list(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    rows = []
    async with _admin(settings) as admin:
        with out.progress(await admin.count(), "users") as bar:
            async for user, usage in admin.accounts():
                rows.append(account(user, usage, settings.storage.default_quota))
                bar.advance()
    out.result(rows, table(rows))
    return EXIT_OK


@asynccontextmanager
async def _tokens_end_after(done: str) -> AsyncIterator[None]:
    """Redis is touched only once the database has the change: say it stands."""
    try:
        yield
    except (RedisError, OSError) as exc:
        raise Problem(f"{done}, but its tokens could not be ended ({type(exc).__name__}: {exc}):"
                             " run the command again") from exc


async def _disable(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    async with _admin(settings) as admin, _tokens_end_after(f"{args.email} is disabled (no login)"):
        changed = await admin.disable(args.email)
        said = f"disabled {changed.user.email}: {changed.tokens_ended} token(s) ended"
        return await _changed(admin, settings, out, changed, said)


async def _enable(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    async with _admin(settings) as admin:
        changed = await admin.enable(args.email)
        return await _changed(admin, settings, out, changed, f"enabled {changed.user.email}")


async def _reset_password(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    async with _admin(settings) as admin:
        await admin.find(args.email)  # before asking anything
        password = read_password(args.password_stdin)
        async with _tokens_end_after(f"the new password of {args.email} is set"):
            changed = await admin.reset_password(args.email, password)
        said = f"new password for {changed.user.email}: {changed.tokens_ended} token(s) ended"
        return await _changed(admin, settings, out, changed, said)


async def _set_quota(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    quota = None if args.quota.strip().lower() == "none" else parse_size(args.quota)
    async with _admin(settings) as admin:
        changed = await admin.set_quota(args.email, quota)
        row = account(changed.user, await admin.usage_of(changed.user), settings.storage.default_quota)
        said = f"quota of {changed.user.email}: {_quota_text(row)}"
        return await _changed(admin, settings, out, changed, said)
