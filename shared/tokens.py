"""Session tokens in Redis, in the original's layout: `auth_<token>` -> user id.

Keeping the raw token in the key (rather than a hash of it) is what lets tokens
issued by the original service stay valid through a migration, and lets the
original's tools read `auth_*` keys. Tokens are UUID v4: 122 random bits from
the OS's CSPRNG. They are never logged.

Each user's tokens are also indexed, so a password change can end all of them
but one (`revoke_others`): a sorted set `files_manager:user_tokens:<user_id>`,
token -> expiry (Redis's clock, ms), pruned of expired members and expiring
with its last token, all in the script that issues a token. Only issuing and
revoking touch it: the look-up of every request (`user_id`) reads the
`auth_<token>` key alone, as before.

Tokens not in an index (issued by the original service, by this service
before the index existed, or written by tools) are found by a SCAN of
`auth_*` instead, but only while such a token can still be alive: for a day
and an hour (LEGACY_TTL and a rolling upgrade's margin) after the first
token was indexed (the key `files_manager:user_tokens:since`), and once per
user past the upgrade's first hour. Past that window, a token written into
Redis by something other than this service survives a password change.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from redis.asyncio import Redis

from .redis_get import PipelinedGet

KEY_PREFIX = "auth_"
INDEX_PREFIX = "files_manager:user_tokens:"
INDEXED_SINCE = INDEX_PREFIX + "since"
_SWEPT_PREFIX = INDEX_PREFIX + "swept:"  # a user whose unindexed tokens were all ended
# The original's tokens live 24 h; one more hour covers a rolling upgrade in
# which processes of the previous version still issue unindexed tokens.
LEGACY_TTL = 86400
_ROLLOUT_MARGIN = 3600
_MAX_TOKEN_LENGTH = 128
_BATCH = 1000  # keys per DEL / MGET / SCAN step: no single long command

# KEYS: the token's key, the user's index, INDEXED_SINCE. ARGV: user id, token, ttl (ms).
# Returns the token's expiry (epoch ms, Redis's clock).
_ISSUE = """
if redis.replicate_commands then redis.replicate_commands() end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local expires = now + tonumber(ARGV[3])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZADD', KEYS[2], expires, ARGV[2])
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[2], last[2])
redis.call('SET', KEYS[3], now, 'NX')
return expires
"""


# ARGV: a SCAN cursor, the pattern, the step, a user id. Returns the next
# cursor and the keys of that step whose value is the user id.
_SCAN_FOR = """
local step = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
local mine = {}
for _, key in ipairs(step[2]) do
  if redis.call('TYPE', key).ok == 'string' and redis.call('GET', key) == ARGV[4] then
    mine[#mine + 1] = key
  end
end
return {step[1], mine}
"""


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    expires_at: float  # epoch seconds


def index_key(user_id: str) -> str:
    return INDEX_PREFIX + user_id


class TokenStore:
    def __init__(self, redis: Redis, ttl_seconds: int, cached: PipelinedGet | None = None) -> None:
        """`cached`: the process's tracked, caching client for the hot look-up
        (shared.redis_get). Without it nothing is remembered, by this process
        or any other with the same settings."""
        self._redis = redis
        self._ttl = ttl_seconds
        self._cached = cached
        self._issue = redis.register_script(_ISSUE)
        self._scan_for = redis.register_script(_SCAN_FOR)
        self._legacy_window_ms = (max(ttl_seconds, LEGACY_TTL) + _ROLLOUT_MARGIN) * 1000

    async def issue(self, user_id: str) -> Session:
        token = str(uuid.uuid4())
        expires_ms = await self._issue(keys=[KEY_PREFIX + token, index_key(user_id), INDEXED_SINCE],
                                       args=[user_id, token, self._ttl * 1000])
        return Session(token, int(expires_ms) / 1000)

    async def user_id(self, token: str | None) -> str | None:
        """The user id behind `token`, or None when it is missing, unknown or expired."""
        if not token or len(token) > _MAX_TOKEN_LENGTH:
            return None
        get = self._cached.get if self._cached is not None else self._redis.get
        value = await get(KEY_PREFIX + token)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else value

    async def revoke(self, token: str | None, user_id: str | None = None) -> bool:
        """Delete the token; False when there was no such token. The one way
        tokens end before their time (logout, password changes): once it
        returns, no API process on this host accepts the token for a request
        that starts afterwards, whatever it remembered (the barrier in
        PipelinedGet.delete). `user_id`: whose index to take it out of."""
        if not token or len(token) > _MAX_TOKEN_LENGTH:
            return False
        existed = await self._delete([KEY_PREFIX + token]) > 0
        if user_id is not None:
            await self._redis.zrem(index_key(user_id), token)
        return existed

    async def revoke_others(self, user_id: str, keep: str | None) -> int:
        """End every token of `user_id` but `keep`, with revoke's guarantee
        for each; how many there were. A token issued while this runs is not
        ended: a login racing a password change checks the hash again once
        its token is indexed (shared.domain.accounts.log_in)."""
        index = index_key(user_id)
        tokens = {member.decode() for member in await self._redis.zrange(index, 0, -1)}
        sweep = await self._legacy_sweep(user_id)
        if sweep is not None:
            tokens |= await self._unindexed_tokens_of(user_id)
        tokens.discard(keep or "")
        ordered = sorted(tokens)
        ended = 0
        for start in range(0, len(ordered), _BATCH):
            batch = ordered[start:start + _BATCH]
            ended += await self._delete([KEY_PREFIX + token for token in batch])
            await self._redis.zrem(index, *batch)
        if sweep:
            await self._redis.set(_SWEPT_PREFIX + user_id, 1, px=sweep)
        return ended

    async def _delete(self, keys: list[str]) -> int:
        if self._cached is not None:
            return await self._cached.delete(*keys)
        return int(await self._redis.delete(*keys))

    async def _legacy_sweep(self, user_id: str) -> int | None:
        """None when no token of the user outside the index can be alive.
        Else a SCAN is due, and the number is how long (ms) its result holds
        once done: to the window's end when every process issuing unindexed
        tokens was gone before the SCAN began, else 0 (not remembered). So
        one password change sweeps per user, not every one: a sweep costs
        Redis about 5 ms per 1,000 tokens of all users."""
        since, swept = await self._redis.mget(INDEXED_SINCE, _SWEPT_PREFIX + user_id)
        if swept is not None:
            return None
        if since is None:
            return 0
        seconds, micros = await self._redis.time()
        now = seconds * 1000 + micros // 1000
        window_end = int(since) + self._legacy_window_ms
        if now >= window_end:
            return None
        return window_end - now if now >= int(since) + _ROLLOUT_MARGIN * 1000 else 0

    async def _unindexed_tokens_of(self, user_id: str) -> set[str]:
        """Every `auth_*` token whose value is `user_id`: O(all tokens), one
        SCAN step (and its GETs, in Redis) per round trip."""
        found: set[str] = set()
        cursor = 0
        while True:
            cursor, keys = await self._scan_for(args=[cursor, KEY_PREFIX + "*", _BATCH, user_id])
            found.update(key[len(KEY_PREFIX):].decode() for key in keys)
            if int(cursor) == 0:
                return found
