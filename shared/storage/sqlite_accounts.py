"""SQLite: what the operator does to accounts (disable, list). The users
table's row shape is here too, so every reader of a user agrees on it."""

from __future__ import annotations

from .base import User, is_id
from .guard import domain_errors
from .sqlite_core import SQLiteCore, domain_error
from .sqlite_migrations import id_time

USER_COLUMNS = "id, email, password, created_at, quota_bytes, disabled"


def user_record(row: tuple | None) -> User | None:
    if row is None:
        return None
    user_id, email, password_hash, created_at, quota_bytes, disabled = row
    # Accounts written by older code have no time: the id's.
    return User(user_id, email, password_hash, id_time(user_id) if created_at is None else created_at,
                quota_bytes, bool(disabled))


@domain_errors(domain_error)
class AccountsPart(SQLiteCore):
    async def set_disabled(self, user_id: str, disabled: bool) -> bool:
        if not is_id(user_id):
            return False
        rows = await self._write("UPDATE users SET disabled = ? WHERE id = ? RETURNING id",
                                 (int(disabled), user_id.lower()))
        return bool(rows)

    async def list_users(self, limit: int, after: str | None) -> list[User]:
        rows = self._read(f"SELECT {USER_COLUMNS} FROM users WHERE id > ? ORDER BY id LIMIT ?",
                          (after or "", max(limit, 0))).fetchall()
        return [user for row in rows if (user := user_record(row)) is not None]
