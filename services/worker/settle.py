"""Settling a job in Redis: ack, retry later, or dead-letter, each one atomic.

Design (why a delayed ZSET and Lua):
- A retry must never leave a window where the job exists nowhere (acked, not
  yet re-queued) or twice (re-queued, ack lost). So "ack + delete + schedule
  the retry" is one Lua script: Redis runs it as a unit, and a crash of the
  worker before it leaves the entry pending (reclaimed later), after it leaves
  it scheduled. The same holds for "ack + delete + dead-letter".
- The script first XACKs and does the rest only if that removed the entry
  from the pending list. If another consumer reclaimed and settled the entry
  meanwhile (a job slower than `claim_idle`), the late settler does nothing,
  so a retry is never scheduled twice.
- A retry waits in a per-kind sorted set scored by its due time (ms), not in
  the stream: an early-read entry would sit pending, look stalled to the
  reaper and occupy a slot. `MOVE_DUE` (also Lua, so each job moves exactly
  once) turns due members back into stream entries with `attempts + 1`,
  keeping `first_at`.
- A retry that is not the job's fault (the disk full, the database down) does
  not count: `attempts` stays, and the entry's extra field `waits` counts
  those retries instead (their backoff doubles with it).
- Acknowledged entries are deleted (XACK + XDEL in one MULTI, batched, and
  when the reader is about to read anyway, in the same MULTI as its next
  XREADGROUP), so a stream holds only unread and in-flight jobs: bounded
  without MAXLEN, which could drop jobs nobody read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from redis.asyncio import Redis

from shared.jobs import DEAD_LETTERS, GROUP, Job, delayed_key


def now_ms() -> int:
    return int(time.time() * 1000)


# KEYS: stream, target (delayed zset or dead-letter stream)
# ARGV: group, entry id, "retry"|"dead", then for retry: due_ms, member;
#       for dead: field, value, field, value...
_SETTLE = """
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('XDEL', KEYS[1], ARGV[2])
if ARGV[3] == 'retry' then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
else
  local fields = {}
  for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
  redis.call('XADD', KEYS[2], '*', unpack(fields))
end
return 1
"""

# KEYS: delayed zset, stream.  ARGV: now_ms, limit.
# Returns {moved, next due ms or false}.
_MOVE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  local job = cjson.decode(member)
  if job.waits then
    redis.call('XADD', KEYS[2], '*', 'data', job.data, 'attempts', job.attempts,
               'first_at', job.first_at, 'waits', job.waits)
  else
    redis.call('XADD', KEYS[2], '*', 'data', job.data, 'attempts', job.attempts, 'first_at', job.first_at)
  end
  redis.call('ZREM', KEYS[1], member)
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {#due, nxt[2] or false}
"""

class Settler:
    """The Redis side of a job's end. One per worker; scripts registered once."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._settle = redis.register_script(_SETTLE)
        self._move_due = redis.register_script(_MOVE_DUE)

    async def ack(self, acks: Mapping[str, list[str]], then_read: Mapping[str, str] | None = None,
                  *, consumer: str = "", count: int = 0) -> Any:
        """Ack and delete finished entries, all streams in one MULTI round trip.
        With `then_read`, the same MULTI ends with a (non-blocking) XREADGROUP
        for `consumer`, whose reply is returned: one round trip instead of two."""
        pipe = self.redis.pipeline(transaction=True)
        for stream, ids in acks.items():
            pipe.xack(stream, GROUP, *ids)
            pipe.xdel(stream, *ids)
        if then_read is not None:
            streams: dict[Any, Any] = dict(then_read)  # redis-py's types want invariant unions
            pipe.xreadgroup(GROUP, consumer, streams, count=count)
        replies = await pipe.execute()
        return replies[-1] if then_read is not None else None

    async def retry(self, stream: str, entry_id: str, job: Job, delay: float, *,
                    waits: int | None = None) -> bool:
        """Ack the entry and schedule `job` again after `delay` s: attempts + 1,
        or, with `waits`, attempts unchanged and `waits` carried instead (a
        retry that does not count). False if the entry was no longer pending
        (someone else settled it)."""
        fields = {
            "data": job.fields()["data"],
            "attempts": str(job.attempts + (1 if waits is None else 0)),
            "first_at": str(job.first_at),
            "retry_of": entry_id,  # keeps members unique
        }
        if waits is not None:
            fields["waits"] = str(waits)
        member = json.dumps(fields, separators=(",", ":"))
        due = now_ms() + int(delay * 1000)
        done = await self._settle(keys=[stream, delayed_key(stream)],
                                  args=[GROUP, entry_id, "retry", due, member])
        return bool(done)

    async def dead(self, stream: str, entry_id: str, job: Job, error: str) -> bool:
        """Ack the entry and append it, with its error, to the dead letters."""
        fields = {
            **job.fields(),
            "kind": job.kind,
            "attempts": str(job.attempts + 1),
            "original_id": entry_id,
            "error": error,
            "failed_at": str(now_ms()),
        }
        args: list[str | int] = [GROUP, entry_id, "dead"]
        for name, value in fields.items():
            args += [name, value]
        done = await self._settle(keys=[stream, DEAD_LETTERS], args=args)
        return bool(done)

    async def move_due(self, streams: Iterable[str], limit: int = 500) -> float | None:
        """Move due retries back to their streams. Returns the earliest
        remaining due time (epoch seconds), or None when nothing waits."""
        earliest: float | None = None
        for stream in streams:
            while True:
                moved, nxt = await self._move_due(keys=[delayed_key(stream), stream],
                                                  args=[now_ms(), limit])
                if moved < limit:
                    break
            if nxt:
                due = float(nxt) / 1000
                earliest = due if earliest is None else min(earliest, due)
        return earliest
