"""Share links (api-v2.md, "Share links"): tokens, what a link may be asked
to be, when it is dead, and the cookie that says a link's password was given.

- A token is 128 random bits (22 URL-safe characters). Only its SHA-256 is
  stored: whoever reads the database cannot open a link (no slow hash needed:
  nobody can guess 128 random bits).
- A link is dead once revoked, expired or used up (`downloads` has reached
  `max_downloads`); so is a link whose file is trashed or purged, which the
  caller knows from the file.
- An unlock value (the cookie set after the right password) is the link's id,
  its expiry and a MAC of both under the server's secret (secret.py): it
  cannot be forged, moved to another link, or extended.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from dataclasses import dataclass

from shared.errors import Gone
from shared.storage import ShareLink, new_id

from .secret import is_signed, sign

TOKEN_BYTES = 16
_TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")  # token_urlsafe(16): 22 characters, no padding
MAX_PASSWORD_LENGTH = 1024
UNLOCK_SECONDS = 3600  # how long the right password opens a link in that browser
UNLOCK_PURPOSE = "share-link-unlock"
_UNLOCK = re.compile(r"([0-9a-f]{24})\.([0-9]{1,12})\.([0-9a-f]{64})")


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_token(text: str) -> bool:
    """Whether `text` could be a token: anything else is not looked up."""
    return _TOKEN.fullmatch(text) is not None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class LinkTerms:
    """What a new link is asked to be, checked."""

    expires_in: int  # seconds
    password: str | None
    max_downloads: int | None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def expiry_seconds(value: object, default: int, maximum: int) -> int:
    """`expiresIn`: None for the default, else whole seconds from 1 to `maximum`;
    ValueError saying what is allowed."""
    if value is None:
        return min(default, maximum)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not _is_int(value) or not 1 <= value <= maximum:  # type: ignore[operator]
        raise ValueError(f"a whole number of seconds from 1 to {maximum}")
    return value  # type: ignore[return-value]


def link_password(value: object) -> str | None:
    """`password`: None for none, else 1 to MAX_PASSWORD_LENGTH characters."""
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_PASSWORD_LENGTH:
        raise ValueError(f"a string of 1 to {MAX_PASSWORD_LENGTH} characters")
    return value


def max_downloads(value: object) -> int | None:
    """`maxDownloads`: None for no limit, else a whole number from 1."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not _is_int(value) or value < 1 or value > 2**53:  # type: ignore[operator]
        raise ValueError("a whole number from 1, or null")
    return value  # type: ignore[return-value]


def new_link(user_id: str, file_id: str, token: str, terms: LinkTerms, password_hash: str | None,
             now: float) -> ShareLink:
    return ShareLink(
        id=new_id(), user_id=user_id, file_id=file_id, token_hash=token_hash(token),
        created_at=now, expires_at=now + terms.expires_in, password_hash=password_hash,
        max_downloads=terms.max_downloads,
    )


def is_dead(link: ShareLink, now: float) -> bool:
    """Revoked, expired or used up (its file aside)."""
    return (link.revoked_at is not None or link.expires_at <= now
            or (link.max_downloads is not None and link.downloads >= link.max_downloads))


def check_alive(link: ShareLink, now: float) -> None:
    if is_dead(link, now):
        raise Gone()


# ---- the unlock cookie's value: "<link id>.<expiry>.<mac>"

def unlock_value(key: bytes, link: ShareLink, now: float) -> tuple[str, int]:
    """A value saying `link`'s password was given, and its expiry (epoch s).
    It never outlives the link itself."""
    expires = min(math.floor(now) + UNLOCK_SECONDS, math.ceil(link.expires_at))
    message = f"{link.id}.{expires}"
    return f"{message}.{sign(key, message)}", expires


def is_unlocked(key: bytes, link: ShareLink, value: str | None, now: float) -> bool:
    """Whether `value` is an unexpired unlock value made for this very link."""
    match = _UNLOCK.fullmatch(value or "")
    if match is None:
        return False
    link_id, expires, mac = match.groups()
    if link_id != link.id or int(expires) <= now:
        return False
    return is_signed(key, f"{link_id}.{expires}", mac)
