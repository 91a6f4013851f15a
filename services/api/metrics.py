"""What the API counts for /metrics: requests by route template, bytes in and out."""

from __future__ import annotations


def record_request(route: str, method: str, status: int, seconds: float) -> None:
    """One request answered (or abandoned: status 499) after `seconds`."""
