"""An operator's hands on the dead letters: put them back on their streams
(`requeue_dead`) or delete them (`purge_dead`), all of them or those of some
kinds. Used by `python supervisor.py queue` (and the worker's own CLI).

Both walk the dead-letter stream in batches, each batch one Lua script, so a
letter is moved or deleted exactly once even when two operators run the same
command at once, and Redis is never blocked by one huge call.
"""

from __future__ import annotations

from collections.abc import Iterable

from redis.asyncio import Redis

from .jobs import DEAD_LETTERS, PREFIX

BATCH = 500

# KEYS: dead-letter stream.  ARGV: prefix of job streams, start id (exclusive),
# max entries, "requeue"|"purge", then the kinds to act on (none: every letter). A requeued letter
# goes back to its stream with attempts reset (first_at kept); letters of other
# kinds stay where they are. Returns {acted on, seen, last id seen}.
_DEAD_LETTERS = """
local kinds = {}
local every = #ARGV < 5
for i = 5, #ARGV do kinds[ARGV[i]] = true end
local entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[2], '+', 'COUNT', tonumber(ARGV[3]))
local done = 0
local last = ARGV[2]
for _, entry in ipairs(entries) do
  last = entry[1]
  local f = {}
  for i = 1, #entry[2], 2 do f[entry[2][i]] = entry[2][i + 1] end
  if every or (f.kind and kinds[f.kind]) then
    if ARGV[4] == 'purge' then
      redis.call('XDEL', KEYS[1], entry[1])
      done = done + 1
    elseif f.data and f.kind then
      redis.call('XADD', ARGV[1] .. f.kind, '*', 'data', f.data, 'attempts', '0',
                 'first_at', f.first_at or '0')
      redis.call('XDEL', KEYS[1], entry[1])
      done = done + 1
    end
  end
end
return {done, #entries, last}
"""


async def _walk(redis: Redis, action: str, kinds: Iterable[str], batch: int) -> int:
    script = redis.register_script(_DEAD_LETTERS)
    kinds = list(kinds)
    total, start = 0, "0-0"
    while True:
        done, seen, last = await script(keys=[DEAD_LETTERS], args=[PREFIX, start, batch, action, *kinds])
        total += int(done)
        start = last.decode() if isinstance(last, bytes) else str(last)
        if int(seen) < batch:
            return total


async def requeue_dead(redis: Redis, kinds: Iterable[str], batch: int = BATCH) -> int:
    """Put every dead letter of `kinds` back on its stream (attempts 0); how many."""
    return await _walk(redis, "requeue", kinds, batch)


async def purge_dead(redis: Redis, kinds: Iterable[str], batch: int = BATCH) -> int:
    """Delete every dead letter of `kinds` (empty: every letter, whatever its kind); how many."""
    return await _walk(redis, "purge", kinds, batch)
