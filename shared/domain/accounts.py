"""Accounts: sign-up, login and password change, the
rules v1 (`POST /users`, `/connect`) and v2 (`/v2/users`, `/v2/sessions`)
share. v2's stricter input rules (what an email looks like, password
lengths) are here too; v1 keeps the original's."""

from __future__ import annotations

import contextlib
import re

from shared.attempts import AttemptLimiter
from shared.enqueuer import Enqueuer
from shared.errors import (
    AccountDisabled,
    EmailTaken,
    Invalid,
    InvalidEmail,
    PasswordTooLong,
    PasswordTooShort,
    SignupClosed,
    Unauthorized,
    WrongPassword,
)
from shared.jobs import welcome_job
from shared.logging import get_logger
from shared.passwords import PasswordHasher
from shared.storage import Storage, User, email_key
from shared.storage.base import is_storable_text
from shared.tokens import Session, TokenStore

log = get_logger("accounts")

MAX_EMAIL_LENGTH = 254  # RFC 5321's path limit, less the angle brackets
# One `@` with something before it, then a domain of two or more non-empty
# dot-separated labels; no spaces (Unicode's) or control characters. Also the
# OpenAPI document's pattern, so spelt without `\s`, which regex engines
# read differently.
_NOT_IN_EMAIL = r"@\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
EMAIL_PATTERN = rf"^[^{_NOT_IN_EMAIL}]+@[^{_NOT_IN_EMAIL}.]+(\.[^{_NOT_IN_EMAIL}.]+)+$"
_EMAIL = re.compile(EMAIL_PATTERN)
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
# What v1 takes at sign-up, so what an existing account's credentials may
# be when given to log in or to prove who one is (the original set no
# minimum length).
MAX_GIVEN_EMAIL_LENGTH = 320
MAX_GIVEN_PASSWORD_LENGTH = 4096
SIGNUP_OPEN = "open"


def check_signup_open(signup: str) -> None:
    """SignupClosed unless `security.signup` is open (only the operator adds users then)."""
    if signup != SIGNUP_OPEN:
        raise SignupClosed()


def valid_email(value: object) -> str:
    """`value` if it looks like an email (EMAIL_PATTERN, at most
    MAX_EMAIL_LENGTH characters), else InvalidEmail."""
    if not is_storable_text(value):
        raise InvalidEmail()
    assert isinstance(value, str)
    if len(value) > MAX_EMAIL_LENGTH or _EMAIL.fullmatch(value) is None:
        raise InvalidEmail()
    return value


def valid_new_password(value: object, name: str = "password") -> str:
    """A password being chosen: MIN_PASSWORD_LENGTH to MAX_PASSWORD_LENGTH characters."""
    if value is None:
        raise PasswordTooShort()
    if not is_storable_text(value):
        raise Invalid(f"Invalid {name}: expected a string")
    assert isinstance(value, str)
    if len(value) < MIN_PASSWORD_LENGTH:
        raise PasswordTooShort()
    if len(value) > MAX_PASSWORD_LENGTH:
        raise PasswordTooLong()
    return value


def given_text(value: object, name: str, max_length: int) -> str:
    """A credential as given (to log in, to prove the current password): a
    string of at most `max_length` characters; whether it is right is the
    password check's business."""
    if value is None:
        raise Invalid(f"Missing {name}")
    if not is_storable_text(value):
        raise Invalid(f"Invalid {name}: expected a string")
    assert isinstance(value, str)
    if len(value) > max_length:
        raise Invalid(f"Invalid {name}: longer than {max_length} characters")
    return value


async def create_account(storage: Storage, passwords: PasswordHasher, enqueuer: Enqueuer,
                         email: str, password: str) -> User:
    """A new account with its welcome job enqueued, or nothing at all (a
    sign-up, or the operator's `users add`). EmailTaken before hashing, and
    on a race by the database's unique index."""
    if await storage.user_by_email(email) is not None:
        raise EmailTaken()
    password_hash = await passwords.hash(password)
    user = await storage.create_user(email, password_hash)
    try:
        await enqueuer.enqueue(welcome_job(user.id))
    except BaseException:
        # A failed request leaves nothing behind: no user without its welcome job.
        with contextlib.suppress(Exception):
            await storage.delete_user(user.id)
        raise
    return user


class Accounts:
    """Sign-up, login and password change over the storage, the password
    hasher, the tokens and the brute-force limits."""

    def __init__(self, storage: Storage, passwords: PasswordHasher, tokens: TokenStore, enqueuer: Enqueuer,
                 logins: AttemptLimiter, signups: AttemptLimiter) -> None:
        self._storage = storage
        self._passwords = passwords
        self._tokens = tokens
        self._enqueuer = enqueuer
        self._logins = logins
        self._signups = signups

    async def sign_up(self, email: str, password: str, address: str) -> User:
        """A new account with its welcome job enqueued, or nothing at all.
        Every well-formed sign-up counts against the address's limit, taken
        or not (429 before any hashing); EmailTaken before hashing too."""
        await self._signups.attempt(None, address)
        return await create_account(self._storage, self._passwords, self._enqueuer, email, password)

    async def log_in(self, email: str, password: str, address: str) -> Session:
        """A new session, or Unauthorized: the same answer, at the same cost
        (an unknown email is verified against a dummy hash), whether or not
        the email exists. Counted as a login attempt first (TooManyAttempts
        before any hashing), keyed as the storage matches emails."""
        attempt = await self._logins.attempt(email_key(email), address)
        storage, passwords = self._storage, self._passwords
        user = await storage.user_by_email(email)
        if not await passwords.verify(user.password_hash if user else None, password) or user is None:
            raise Unauthorized()  # the attempt stays counted
        if user.disabled:
            raise AccountDisabled()  # the attempt stays counted too
        await attempt.succeeded()
        verified = user.password_hash
        if passwords.needs_rehash(verified):
            # Legacy SHA1 digests (and outdated parameters) are replaced on the first good login.
            new_hash = await passwords.hash(password)
            if await storage.set_password_hash(user.id, verified, new_hash):
                log.info("user.password_rehashed", user_id=user.id)
                verified = new_hash
        session = await self._tokens.issue(user.id)
        try:
            await self._confirm(user.id, verified, password)
        except BaseException:
            with contextlib.suppress(Exception):
                await self._tokens.revoke(session.token, user.id)
            raise
        return session

    async def _confirm(self, user_id: str, verified: str, password: str) -> None:
        """The password is still right now that the token is indexed. A
        password change stores its hash, then ends the tokens in the index:
        a login that verified the old hash and indexed its token after that
        sweep reads the new hash here and gives its token up."""
        current = await self._storage.user_by_id(user_id)
        if current is None:
            raise Unauthorized()
        if current.disabled:  # disabled meanwhile: the operator's sweep may have missed this token
            raise AccountDisabled()
        if current.password_hash != verified and not await self._passwords.verify(current.password_hash, password):
            raise Unauthorized()

    async def log_out(self, token: str | None, user_id: str) -> None:
        if not await self._tokens.revoke(token, user_id):
            raise Unauthorized()  # revoked by a concurrent request in between

    async def change_password(self, user_id: str, current: str, new: str, address: str,
                              keep_token: str | None) -> None:
        """Check `current` (a wrong one counts as a failed login: WrongPassword,
        or TooManyAttempts past the limit), store `new`, then end every other
        token of the user in every process. Should ending them fail, the old
        hash is put back: the request fails and the password is unchanged."""
        storage, passwords = self._storage, self._passwords
        user = await storage.user_by_id(user_id)  # not the process's cache: the hash must be the latest
        if user is None:
            raise Unauthorized()
        attempt = await self._logins.attempt(email_key(user.email), address)
        if not await passwords.verify(user.password_hash, current):
            raise WrongPassword()
        await attempt.succeeded()
        new_hash = await passwords.hash(new)
        if not await storage.set_password_hash(user.id, user.password_hash, new_hash):
            raise WrongPassword()  # changed meanwhile: `current` no longer is the password
        try:
            ended = await self._tokens.revoke_others(user.id, keep_token)
        except BaseException:
            with contextlib.suppress(Exception):
                await storage.set_password_hash(user.id, new_hash, user.password_hash)
            raise
        log.info("user.password_changed", user_id=user.id, tokens_ended=ended)
