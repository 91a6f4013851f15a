"""What the operator does to accounts (`python supervisor.py users ...`):
add one (even with sign-up closed), disable or enable it, set a new
password, set its quota, list them all.

Every account is named by its email, matched as logins match it. Disabling
stores the flag first, then ends every token of the user in every process
(TokenStore.revoke_others); a login racing it reads the flag again once its
token is indexed (Accounts.log_in) and gives the token up, so no token
outlives the command. A new password ends every token the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from shared.enqueuer import Enqueuer
from shared.errors import Conflict, EmailTaken, NotFound
from shared.passwords import PasswordHasher
from shared.storage import Storage, Usage, User
from shared.tokens import TokenStore

from .accounts import create_account, valid_email, valid_new_password

LIST_PAGE = 500


@dataclass(frozen=True, slots=True)
class Changed:
    """An account after a change, and how many of its tokens were ended."""

    user: User
    tokens_ended: int = 0


class AccountAdmin:
    def __init__(self, storage: Storage, passwords: PasswordHasher, tokens: TokenStore,
                 enqueuer: Enqueuer) -> None:
        self._storage = storage
        self._passwords = passwords
        self._tokens = tokens
        self._enqueuer = enqueuer

    async def find(self, email: str) -> User:
        """The account of `email`, or NotFound naming it."""
        user = await self._storage.user_by_email(email)
        if user is None:
            raise NotFound(f"No user with the email {email!r}")
        return user

    async def add(self, email: str, password: str) -> User:
        """As a sign-up does (the API's rules, the welcome job), whether sign-up is open or not."""
        try:
            return await create_account(self._storage, self._passwords, self._enqueuer, valid_email(email),
                                        valid_new_password(password))
        except EmailTaken:
            raise EmailTaken(f"An account with the email {email!r} exists already") from None

    async def disable(self, email: str) -> Changed:
        """Run again after a failure: the flag stays set and the tokens are swept again."""
        user = await self.find(email)
        self._require(await self._storage.set_disabled(user.id, True), email)
        ended = await self._tokens.revoke_others(user.id, None)
        return Changed(await self.find(email), ended)

    async def enable(self, email: str) -> Changed:
        user = await self.find(email)
        self._require(await self._storage.set_disabled(user.id, False), email)
        return Changed(await self.find(email))

    async def reset_password(self, email: str, password: str) -> Changed:
        new = valid_new_password(password)
        user = await self.find(email)
        new_hash = await self._passwords.hash(new)
        if not await self._storage.set_password_hash(user.id, user.password_hash, new_hash):
            # A login rehashed a legacy hash, or another change, in between.
            raise Conflict("The password changed meanwhile: run the command again")
        ended = await self._tokens.revoke_others(user.id, None)
        return Changed(await self.find(email), ended)

    async def set_quota(self, email: str, quota_bytes: int | None) -> Changed:
        user = await self.find(email)
        self._require(await self._storage.set_quota(user.id, quota_bytes), email)
        return Changed(await self.find(email))

    async def count(self) -> int:
        return await self._storage.count_users()

    async def usage_of(self, user: User) -> Usage:
        return await self._storage.usage(user.id)

    async def accounts(self) -> AsyncIterator[tuple[User, Usage]]:
        """Every account by id (creation time, to the second), with its bytes, a page at a time."""
        after: str | None = None
        while page := await self._storage.list_users(LIST_PAGE, after):
            for user in page:
                yield user, await self._storage.usage(user.id)
            after = page[-1].id

    @staticmethod
    def _require(found: bool, email: str) -> None:
        if not found:  # deleted between the look-up and the change
            raise NotFound(f"No user with the email {email!r}")
