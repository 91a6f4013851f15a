"""The Redis client both services use."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis


def text(value: Any) -> Any:
    """A reply's bytes as text (invalid UTF-8 replaced); anything else as it is."""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def open_redis(url: str) -> Redis:
    """A pooled asyncio client; connects lazily. Timeouts keep a dead Redis
    from hanging a request forever."""
    return Redis.from_url(
        url,
        socket_connect_timeout=5,
        socket_timeout=10,
        health_check_interval=30,
    )
