"""The Redis client every process uses: `open_redis(settings.redis.url)`.

A redis:// (rediss://, unix://) URL names one server. A redis+sentinel://
URL (shared/redis_url.py) names sentinels: each new connection asks them
for the master, so after a failover the same client object reaches the new
master. While there is none (the old one dead, the sentinels not yet agreed,
or the old one demoted under a connection) commands fail with redis-py's
ConnectionError, which the API answers with a 503 and the job worker waits out,
as any Redis outage."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.sentinel import Sentinel, SentinelManagedConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from .redis_url import SentinelLocation, is_sentinel, sentinel_location

# A dead Redis must not hang a request forever; the sentinels get the same bounds.
_TIMEOUTS: dict[str, Any] = {"socket_connect_timeout": 5, "socket_timeout": 10}
_HEALTH_CHECK_INTERVAL = 30


def text(value: Any) -> Any:
    """A reply's bytes as text (invalid UTF-8 replaced); anything else as it is."""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def open_redis(url: str) -> Redis:
    """A pooled asyncio client; connects lazily (nothing is opened before the
    first command, so a process may fork after this)."""
    if is_sentinel(url):
        return _open_sentinel_master(url)
    return Redis.from_url(url, health_check_interval=_HEALTH_CHECK_INTERVAL, **_TIMEOUTS)


# Replies of a master that cannot take the command now, for a reason that is
# the deployment's, not the command's: a failover under way (UNBLOCKED: a read
# blocked on the master when it was demoted) or its replicas out of reach
# (NOREPLICAS, with min-replicas-to-write). redis-py already does this for
# READONLY (a demoted master).
NOT_NOW_REPLIES = ("UNBLOCKED", "NOREPLICAS")


class _MasterConnection(SentinelManagedConnection):
    """These replies become a ConnectionError, as a master out of reach: the
    API answers 503, the job worker waits it out. The connection is dropped
    (a pipeline's other replies are never read out of turn; the next one asks
    the sentinels again)."""

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().read_response(*args, **kwargs)
        except ResponseError as exc:
            if str(exc).startswith(NOT_NOW_REPLIES):
                await self.disconnect()
                raise RedisConnectionError(f"the master cannot answer now: {exc}") from exc
            raise


class SentinelMaster(Redis):
    """The master's client; closing it also closes the connections to the sentinels."""

    sentinel_manager: Sentinel | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        if self.sentinel_manager is not None:
            for client in self.sentinel_manager.sentinels:
                await client.aclose()


def open_sentinels(where: SentinelLocation) -> Sentinel:
    """The clients of the sentinels of `where` (lazy; close each of `.sentinels`)."""
    sentinel_auth = {k: v for k, v in (("username", where.sentinel_username),
                                       ("password", where.sentinel_password)) if v is not None}
    return Sentinel(list(where.sentinels), sentinel_kwargs={**_TIMEOUTS, **sentinel_auth})


def _open_sentinel_master(url: str) -> Redis:
    where = sentinel_location(url)  # ValueError: the configuration checked it already
    sentinel = open_sentinels(where)
    client = sentinel.master_for(
        where.master, redis_class=SentinelMaster, connection_class=_MasterConnection,
        db=where.db, username=where.username, password=where.password,
        health_check_interval=_HEALTH_CHECK_INTERVAL, **_TIMEOUTS,
    )
    assert isinstance(client, SentinelMaster)
    client.sentinel_manager = sentinel
    return client
