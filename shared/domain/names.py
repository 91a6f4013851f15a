"""File and folder names (api-v2.md, "Names"): what a v2 client may call a
file. A name is only ever metadata, never a path on disk (blobs are named by
UUIDs), but it does end up in download headers, shells and other systems'
folders, so the separators and controls that break those are refused."""

from __future__ import annotations

import unicodedata

from shared.errors import Invalid

MAX_NAME_BYTES = 255  # of UTF-8, after NFC normalisation: what common file systems take
INVALID_NAME = "Invalid name"
_SEPARATORS = frozenset("/\\")


def valid_name(value: object) -> str:
    """The name NFC-normalised, or Invalid("Invalid name"): not a string, empty,
    over 255 bytes of UTF-8, `.` or `..`, or holding `/`, `\\`, NUL or any
    other control character (Unicode category Cc)."""
    if not isinstance(value, str):
        raise Invalid(INVALID_NAME)
    name = unicodedata.normalize("NFC", value)
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate: no backend can store it
        raise Invalid(INVALID_NAME) from None
    if not 1 <= size <= MAX_NAME_BYTES or name in (".", ".."):
        raise Invalid(INVALID_NAME)
    if any(char in _SEPARATORS or unicodedata.category(char) == "Cc" for char in name):
        raise Invalid(INVALID_NAME)
    return name
