"""PostgreSQL: what the operator does to accounts (disable, list). The users
table's row shape is here too, so every reader of a user agrees on it."""

from __future__ import annotations

from typing import Any

from .base import User, is_id
from .guard import domain_errors
from .pg_core import PGCore, domain_error

USER_COLUMNS = "id, email, password, created_at, quota_bytes, disabled"


def user_record(row: Any) -> User | None:
    return None if row is None else User(*row)


@domain_errors(domain_error)
class AccountsPart(PGCore):
    async def set_disabled(self, user_id: str, disabled: bool) -> bool:
        if not is_id(user_id):
            return False
        found = await self._fetchval("UPDATE users SET disabled = $1 WHERE id = $2 RETURNING id",
                                     disabled, user_id.lower())
        return found is not None

    async def list_users(self, limit: int, after: str | None) -> list[User]:
        rows = await self._fetch(f"SELECT {USER_COLUMNS} FROM users WHERE id > $1 ORDER BY id LIMIT $2",
                                 after or "", max(limit, 0))
        return [user for row in rows if (user := user_record(row)) is not None]
