"""Byte counts as an operator types and reads them: `10G`, `500M`, `1.5T`,
`123456` (K, M, G, T are powers of 1024; a trailing `B` or `iB` is allowed)."""

from __future__ import annotations

import re

from shared.errors import Invalid

MAX_SIZE = 2**63 - 1  # what both backends store as an integer
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?", re.I)


def parse_size(text: str) -> int:
    """Bytes of `text`, or Invalid saying what is expected."""
    match = _SIZE.fullmatch(text.strip())
    if match is None or (match.group(2) == "" and "." in match.group(1)):
        raise Invalid(f"Invalid size {text!r}: expected bytes (e.g. 1048576) or a size like 500M, 10G, 1.5T")
    number, unit = match.groups()
    size = int(float(number) * _UNITS[unit.upper()]) if "." in number else int(number) * _UNITS[unit.upper()]
    if size > MAX_SIZE:
        raise Invalid(f"Invalid size {text!r}: more than {MAX_SIZE} bytes")
    return size


def human_size(size: int) -> str:
    """`1.5 GiB`, `512 B`: what a table shows."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")
