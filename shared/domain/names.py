"""File and folder names on v2 (api-v2.md, Names).

A name is only ever shown and compared, never used as a path on disk (blobs
are named by UUIDs), but it travels to other systems: a download's
Content-Disposition, a zip, a user's own disk when synced. So a name is what
every file system can hold: NFC (the same text always the same bytes, so two
names that look alike are alike), 1-255 bytes of UTF-8 (the common file-name
limit), never `.` or `..`, and no separator, NUL or other control character.
"""

from __future__ import annotations

import re
import unicodedata

from shared.errors import Invalid

MAX_NAME_BYTES = 255
INVALID_NAME = "Invalid name"

# `/`, `\` and the Unicode category Cc: U+0000-U+001F and U+007F-U+009F.
_FORBIDDEN = re.compile("[/\\\\\x00-\x1f\x7f-\x9f]")


def valid_name(raw: object) -> str:
    """`raw` as the name to store (NFC), or Invalid("Invalid name")."""
    if not isinstance(raw, str):
        raise Invalid(INVALID_NAME)
    name = unicodedata.normalize("NFC", raw)
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate: not text any backend stores
        raise Invalid(INVALID_NAME) from None
    if not 1 <= size <= MAX_NAME_BYTES or name in (".", "..") or _FORBIDDEN.search(name):
        raise Invalid(INVALID_NAME)
    return name
