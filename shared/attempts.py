"""Brute-force limits: attempts counted in Redis, so every process and node
shares them (api-v2.md, "Brute force").

An attempt is counted when it starts, before anything costly (a password
hash) is done, in one Lua script that refuses it (TooManyAttempts with the
seconds until the window ends) when a limit is reached and counts it
otherwise. Counting at the start is what keeps concurrent attempts within the
limit: a hundred wrong passwords sent at once get ten hashes, not a hundred.
A success gives its attempt back (`Attempt.succeeded`) and clears the
failures of that account from that address, so only failures count.

Two counters per attempt: per (account, client address) and per client
address across all accounts. There is deliberately no counter per account
alone: an account under attack from some addresses still logs in from others.
A window opens with the first attempt it counts and closes `window` seconds
later (the key's TTL); nothing is kept past it.

Key names never hold an account in clear: it is hashed (SHA-256). An IPv6
client counts by its /64 network, which is what one subscriber gets, so an
attacker cannot rotate addresses within it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from .errors import TooManyAttempts

PREFIX = "files_manager:attempts:"

# KEYS: the counters; ARGV: per counter its limit then its window (ms).
# Returns 0 when the attempt is counted, else the ms until the full counter's window ends.
_ATTEMPT = """
for i = 1, #KEYS do
  local count = tonumber(redis.call('GET', KEYS[i]) or '0')
  if count >= tonumber(ARGV[2 * i - 1]) then
    local left = redis.call('PTTL', KEYS[i])
    if left < 0 then
      redis.call('PEXPIRE', KEYS[i], ARGV[2 * i])
      left = tonumber(ARGV[2 * i])
    end
    return left
  end
end
for i = 1, #KEYS do
  redis.call('INCR', KEYS[i])
  if redis.call('PTTL', KEYS[i]) < 0 then
    redis.call('PEXPIRE', KEYS[i], ARGV[2 * i])
  end
end
return 0
"""

# KEYS: the attempt's counters, the address's last. The others (the account's
# failures from that address) are cleared; the address's gets one back
# (never below zero, never left without its TTL).
_SUCCEEDED = """
for i = 1, #KEYS - 1 do
  redis.call('DEL', KEYS[i])
end
local last = KEYS[#KEYS]
local count = tonumber(redis.call('GET', last) or '0')
if count > 1 then
  redis.call('DECR', last)
elseif count == 1 then
  redis.call('DEL', last)
end
return 0
"""


@dataclass(frozen=True)
class Limit:
    attempts: int  # counted within one window; the next one is refused
    window: float  # seconds


def address_key(address: str) -> str:
    """The counted form of a client address: IPv4 as is (an IPv4-mapped IPv6
    address too), IPv6 by its /64; anything unparsable as given."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def account_key(account: str) -> str:
    """An account in a key name: hashed, never in clear. The caller normalises
    it first (e-mail addresses are trimmed and lower-cased)."""
    return hashlib.sha256(account.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class Attempt:
    """One counted attempt; `succeeded()` once it proved right."""

    def __init__(self, succeeded: AsyncScript, keys: list[str]) -> None:
        self._succeeded = succeeded
        self._keys = keys

    async def succeeded(self) -> None:
        """A success does not count: the account's failures from this address
        are cleared and the address gets this attempt back."""
        await self._succeeded(keys=self._keys)


class AttemptLimiter:
    """Attempts of one kind (`kind`: "login", "signup", ...) limited per
    (account, address) and per address, or per address only when
    `per_account` is None.

        attempt = await limiter.attempt(account, address)  # TooManyAttempts when limited
        ... verify ...
        await attempt.succeeded()                          # only when it was right

    Where every attempt counts (sign-ups), `succeeded` is simply not called.
    """

    def __init__(self, redis: Redis, kind: str, per_address: Limit, per_account: Limit | None = None) -> None:
        self._kind = PREFIX + kind + ":"
        self._per_address = per_address
        self._per_account = per_account
        self._attempt = redis.register_script(_ATTEMPT)
        self._succeeded = redis.register_script(_SUCCEEDED)

    async def attempt(self, account: str | None, address: str) -> Attempt:
        """Count an attempt on `account` (None: a limit per address only) from
        `address`, or raise TooManyAttempts(seconds to wait) without counting it."""
        where = address_key(address)
        keys, limits = [], []
        if self._per_account is not None and account is not None:
            keys.append(f"{self._kind}account:{account_key(account)}:address:{where}")
            limits.append(self._per_account)
        keys.append(f"{self._kind}address:{where}")
        limits.append(self._per_address)
        args: list[int] = []
        for limit in limits:
            args += [limit.attempts, max(1, round(limit.window * 1000))]
        wait_ms = int(await self._attempt(keys=keys, args=args))
        if wait_ms > 0:
            raise TooManyAttempts(math.ceil(wait_ms / 1000))
        return Attempt(self._succeeded, keys)
