"""The user behind a token, remembered briefly by each API process."""

from __future__ import annotations

import time

from shared.storage import User


class UserCache:
    """Users by id, remembered for `ttl` seconds by each API process.

    The token is checked in Redis on every request (a logout takes effect at
    once); what is remembered is the user record behind it, which the API never
    changes except for its password hash, and which token-authenticated
    requests never read. It saves a database round trip on every request; the
    cost is that a user deleted directly in the database keeps working through
    an existing token for up to `ttl` seconds."""

    def __init__(self, ttl: float = 5.0, max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._users: dict[str, tuple[float, User]] = {}

    def get(self, user_id: str) -> User | None:
        entry = self._users.get(user_id)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, user: User) -> None:
        if len(self._users) >= self._max:
            self._users.clear()  # crude but bounded; refilled from the database
        self._users[user.id] = (time.monotonic() + self._ttl, user)
