"""GETs pipelined on one dedicated Redis connection, with a client-side cache
kept exact by Redis itself: the token look-up of every authenticated request;
and the deletion that ends a token in every process at once (logout).

Pipelining: Redis answers a connection's commands in order, so a FIFO of
waiters is all the bookkeeping needed; commands issued in one loop iteration
leave in one write. redis-py's pool costs a checkout, a lock and a timeout per
command: about five times the CPU here, more than a whole bare aiohttp request.

Caching: on Redis 6 and later the connection speaks RESP3 with `CLIENT
TRACKING ON`, so Redis pushes an `invalidate` message on this same connection
whenever a key we read is changed, deleted, expired or flushed, by anyone. A
value is remembered from its reply until such a message, or until the key's
own expiry (its PTTL is asked with it), so a remembered value is what a GET
would return. Replies and pushes share the connection and are handled in
arrival order inside `data_received`, which is what makes that exact: a value
is stored and forgotten in the order Redis produced the two events.

"At once" across processes, for a deletion made with `delete` (a logout):
once `delete` returns, every process on this host refuses the key for every
look-up that starts afterwards. Two halves make that hold:
- the deleter waits for a second round trip. Redis queues the invalidation
  pushes while it runs the DEL, but writes its pending replies newest first
  (networking.c `putClientInPendingWriteQueue` puts a client at the head of
  `clients_pending_write`; `handleClientsWithPendingWrites` walks from the
  head), so the DEL's reply can leave before the pushes, and under CPU load
  the deleter may run, answer its client and see that client reach another
  process before Redis wrote that process's push. Redis reads a command sent
  after the DEL's reply only in a later turn of its event loop, after the
  `beforeSleep` that wrote every push has returned: when the PING's reply
  arrives, every tracking connection's socket holds its push (on loopback the
  kernel queues a write to the receiving socket within the write call, or,
  when it defers that work, in order with Redis's later writes).
- the reader trusts a remembered value only when its socket holds nothing
  unread (a poll(2) with no wait): an invalidation already in the socket, or
  the connection's end, sends the look-up to Redis, on this same connection,
  after the push. This does not lean on how an event loop orders its
  callbacks, nor on how much it reads at a time. One poll per turn of the
  event loop is enough, not one per look-up: every request handled in a turn
  was read before the turn began, so a push that came before any of them is
  in the socket (or handled) when the turn's first look-up polls; a push
  arriving later in the turn is for a deletion none of them started after.
  Under load, many requests share a turn and so the syscall.
The bound of the barrier: Redis writes at most 64 KiB per client per turn
(NET_MAX_WRITES_PER_EVENT); a process with more invalidations than that
waiting for it may get the rest a turn later. Across hosts the push and the
client's next request travel different paths: the push has left Redis before
the deletion returns, its delivery is the network's (normally well under a
millisecond; a lost packet's retransmission longer).
What bounds the rest:
- the connection is lost: everything remembered is forgotten with it;
- Redis goes silent without closing it (a partition): nothing remembered is
  used once no reply has come for `STALE_AFTER` seconds (a PING goes out
  every `PING_EVERY` seconds to keep a healthy connection fresh);
- Redis older than 6, or a proxy refusing HELLO/CLIENT TRACKING: no caching.

Behind Sentinel (a redis+sentinel:// URL) each connection goes to the master
the sentinels name at the time. A failover ends the connection (the old
master dies, or the sentinels drop its clients when they demote it), and with
it everything remembered; a READONLY reply (a master demoted under the
connection by other means) or NOREPLICAS (a master short of the replicas
min-replicas-to-write asks for) is taken the same way: the connection is
dropped and the command fails with a ConnectionError.

Everything else keeps using redis-py. Failures raise redis-py's exceptions, so
callers and the API's error middleware treat both clients alike.
"""

from __future__ import annotations

import asyncio
import collections
import math
import select
import time

import hiredis
from redis.asyncio.sentinel import Sentinel
from redis.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .redis_client import NOT_NOW_REPLIES, open_sentinels
from .redis_url import is_sentinel, sentinel_location

PING_EVERY = 0.5
STALE_AFTER = 1.5
CACHE_ENTRIES = 20_000  # about 5 MB; beyond this the cache is emptied and refills

# Replies that mean no writable master on this connection (a demoted one,
# one short of replicas): the connection is dropped, the caller gets a
# ConnectionError (a 503), the next call connects afresh.
_NOT_NOW = ("READONLY", *NOT_NOW_REPLIES)

# What a waiter does with its reply.
_RESULT, _HOLD, _REMEMBER, _IGNORE = range(4)


def _command(*parts: bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


_PING = _command(b"PING")


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        # (future or None, sent at, what to do with the reply, key)
        self.waiters: collections.deque[tuple[asyncio.Future | None, float, int, bytes]] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.lost: BaseException | None = None
        self.outgoing: list[bytes] = []
        self.tracking = False  # set once CLIENT TRACKING is on
        self.cache: dict[bytes, tuple[bytes, float]] = {}  # key -> (value, expires at, monotonic)
        self.fresh_until = 0.0  # monotonic time up to which the cache may answer
        self._held: object = None  # a GET's reply, waiting for its PTTL
        self._poller: select.poll | None = None
        self._clear_this_turn = False  # polled clear in this turn of the loop

    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self._poller = select.poll()
            self._poller.register(sock.fileno(), select.POLLIN)

    def unread(self) -> bool:
        """Whether the socket holds bytes not yet handed to `data_received`
        (or the connection's end, or the socket is unknown): the cache must
        not answer until they are handled. Polled at most once a turn while
        clear (see the module doc)."""
        if self._clear_this_turn:
            return False
        if self._poller is None or self._poller.poll(0):
            return True
        self._clear_this_turn = True
        asyncio.get_running_loop().call_soon(self._next_turn)
        return False

    def _next_turn(self) -> None:
        self._clear_this_turn = False

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        got_reply = False
        while (reply := self.reader.gets()) is not False:
            got_reply = True
            if type(reply) is hiredis.PushNotification:
                self._push(reply)
                continue
            waiter, sent, action, key = self.waiters.popleft()
            if action == _HOLD:
                self._held = reply
                continue
            if action == _REMEMBER:  # reply is the PTTL; the caller gets the GET's reply
                ttl, reply, self._held = reply, self._held, None
                if self.tracking and type(reply) is bytes and type(ttl) is int and ttl != -2:
                    if len(self.cache) >= CACHE_ENTRIES:
                        self.cache.clear()
                    # From when the GET was queued: never later than the real expiry.
                    self.cache[key] = (reply, math.inf if ttl < 0 else sent + ttl / 1000)
            if waiter is None or waiter.done():  # a PING, or its caller gave up
                continue
            if isinstance(reply, hiredis.ReplyError):
                if str(reply).startswith(_NOT_NOW):  # not a master that can write now: start afresh
                    self._drop(RedisConnectionError(f"the master cannot answer now: {reply}"))
                    waiter.set_exception(self.lost or RedisConnectionError(str(reply)))
                    continue
                waiter.set_exception(ResponseError(str(reply)))
            else:
                waiter.set_result(reply)
        if got_reply and self.tracking:
            self.fresh_until = time.monotonic() + STALE_AFTER

    def _push(self, message: list) -> None:
        if len(message) == 2 and message[0] == b"invalidate":
            keys = message[1]
            if keys is None:  # FLUSHDB / FLUSHALL
                self.cache.clear()
            else:
                for key in keys:
                    self.cache.pop(key, None)

    def forget_all(self) -> None:
        self.tracking = False
        self.cache.clear()

    def _drop(self, exc: BaseException) -> None:
        """Give the connection up at once: forget, fail the waiters, close."""
        if self.lost is None:
            self.lost = exc
        self.forget_all()
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost = RedisConnectionError(f"connection to Redis lost: {exc or 'closed'}")
        self.forget_all()
        self.fail_waiters(self.lost)

    def fail_waiters(self, exc: BaseException) -> None:
        while self.waiters:
            waiter, _, _, _ = self.waiters.popleft()
            if waiter is not None and not waiter.done():
                waiter.set_exception(exc)

    def _queue(self, payload: bytes) -> None:
        if not self.outgoing:
            asyncio.get_running_loop().call_soon(self.flush)
        self.outgoing.append(payload)

    def send(self, payload: bytes) -> asyncio.Future:
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append((waiter, time.monotonic(), _RESULT, b""))
        self._queue(payload)
        return waiter

    def send_remembered_get(self, key: bytes) -> asyncio.Future:
        """GET and PTTL of `key`; the value is remembered when the PTTL arrives."""
        waiter = asyncio.get_running_loop().create_future()
        now = time.monotonic()
        self.waiters.append((None, now, _HOLD, key))
        self.waiters.append((waiter, now, _REMEMBER, key))
        self._queue(_command(b"GET", key) + _command(b"PTTL", key))
        return waiter

    def ping(self) -> None:
        self.waiters.append((None, time.monotonic(), _IGNORE, b""))
        self._queue(_PING)

    def flush(self) -> None:
        payload, self.outgoing = b"".join(self.outgoing), []
        if self.lost is None and self.transport is not None:
            self.transport.write(payload)


class PipelinedGet:
    """`await get(key)` -> bytes or None, many in flight on one connection,
    answered from the tracked cache when possible (see the module doc).

    A reply slower than `timeout` seconds means the connection is stuck: it is
    aborted, every waiter fails with TimeoutError, the next call reconnects.
    """

    def __init__(self, url: str, timeout: float = 5.0, cache: bool = True) -> None:
        self._setup: list[bytes] = []
        self._sentinels: Sentinel | None = None
        if is_sentinel(url):
            where = sentinel_location(url)
            self._sentinels, self._master = open_sentinels(where), where.master
            self._host, self._port = "", 0  # asked of the sentinels at each connection
            username, password, db = where.username, where.password, where.db
        else:
            params = parse_url(url)
            if "path" in params or url.startswith("rediss://"):
                raise ValueError("PipelinedGet speaks plain TCP only")
            self._host = params.get("host", "localhost")
            self._port = int(params.get("port", 6379))
            username, password, db = params.get("username"), params.get("password"), params.get("db")
        if password:
            auth = [username] if username else []
            self._setup.append(_command(b"AUTH", *(p.encode() for p in auth), password.encode()))
        if db:
            self._setup.append(_command(b"SELECT", str(db).encode()))
        self._timeout = timeout
        self._cache = cache
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._heartbeat: asyncio.TimerHandle | None = None

    @staticmethod
    def supports(url: str) -> bool:
        return url.startswith("redis://") or is_sentinel(url)

    @property
    def caching(self) -> bool:
        """Whether values are remembered now (Redis 6+ answered HELLO 3 and CLIENT TRACKING)."""
        return self._protocol is not None and self._protocol.tracking

    async def _connect(self) -> _Protocol:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._protocol is not None and self._protocol.lost is None:
                return self._protocol
            loop = asyncio.get_running_loop()
            if self._sentinels is not None:  # MasterNotFoundError (a ConnectionError) while there is none
                self._host, self._port = await self._sentinels.discover_master(self._master)
            try:
                _, protocol = await asyncio.wait_for(
                    loop.create_connection(_Protocol, self._host, self._port), self._timeout
                )
            except (TimeoutError, OSError) as exc:
                raise RedisConnectionError(f"cannot connect to Redis at {self._host}:{self._port}: {exc}") from None
            try:
                for command in self._setup:
                    await asyncio.wait_for(protocol.send(command), self._timeout)
                if self._cache:
                    await self._track(protocol)
            except BaseException:
                if protocol.transport is not None:
                    protocol.transport.abort()
                raise
            self._protocol = protocol
            if protocol.tracking:
                if self._heartbeat is not None:  # one heartbeat, not one per reconnection
                    self._heartbeat.cancel()
                self._beat()
            return protocol

    async def _track(self, protocol: _Protocol) -> None:
        """RESP3 and CLIENT TRACKING on this connection; without them (Redis
        before 6, a proxy) it stays a plain pipelined connection."""
        try:
            await asyncio.wait_for(protocol.send(_command(b"HELLO", b"3")), self._timeout)
            await asyncio.wait_for(protocol.send(_command(b"CLIENT", b"SETNAME", b"files-manager-tokens")),
                                   self._timeout)
            await asyncio.wait_for(protocol.send(_command(b"CLIENT", b"TRACKING", b"ON")), self._timeout)
        except ResponseError:
            return
        protocol.tracking = True
        protocol.fresh_until = time.monotonic() + STALE_AFTER

    def _beat(self) -> None:
        """Keep the cache fresh on a quiet connection (see STALE_AFTER)."""
        self._heartbeat = None
        protocol = self._protocol
        if protocol is None or protocol.lost is not None or not protocol.tracking:
            return
        protocol.ping()
        self._arm_watchdog()
        self._heartbeat = asyncio.get_running_loop().call_later(PING_EVERY, self._beat)

    def _check_stuck(self) -> None:
        self._watchdog = None
        protocol = self._protocol
        if protocol is None or not protocol.waiters:
            return
        if time.monotonic() - protocol.waiters[0][1] > self._timeout:
            stuck = RedisTimeoutError(f"Redis did not answer within {self._timeout} s")
            protocol.lost = stuck
            protocol.forget_all()
            protocol.fail_waiters(stuck)
            if protocol.transport is not None:
                protocol.transport.abort()
            return
        self._arm_watchdog()

    def _arm_watchdog(self) -> None:
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().call_later(self._timeout / 2, self._check_stuck)

    async def _ready(self) -> _Protocol:
        protocol = self._protocol
        if protocol is None or protocol.lost is not None:
            protocol = await self._connect()
        return protocol

    async def get(self, key: str) -> bytes | None:
        raw = key.encode("utf-8", "replace")
        protocol = self._protocol
        if protocol is not None and protocol.tracking:
            entry = protocol.cache.get(raw)
            if entry is not None:
                now = time.monotonic()
                if now < entry[1] and now < protocol.fresh_until and not protocol.unread():
                    return entry[0]
        protocol = await self._ready()
        if protocol.tracking:
            waiter = protocol.send_remembered_get(raw)
        else:
            waiter = protocol.send(_command(b"GET", raw))
        self._arm_watchdog()
        return await waiter

    async def _call(self, payload: bytes):
        protocol = await self._ready()
        waiter = protocol.send(payload)
        self._arm_watchdog()
        return await waiter

    async def delete(self, *keys: str) -> int:
        """DEL `keys` (how many existed), returning only once every process
        remembering one of them has the invalidation in its socket, so none
        serves it to a look-up that starts afterwards (see the module doc)."""
        raws = [key.encode("utf-8", "replace") for key in keys]
        deleted = await self._call(_command(b"DEL", *raws))
        # The barrier: sent only now that the DEL's reply is in, so Redis reads
        # it in a later turn of its loop than the one that wrote the pushes.
        # Redis's push to this connection (for a key this process remembered)
        # came before that reply, so it is handled too.
        await self._call(_PING)
        return int(deleted)

    async def aclose(self) -> None:
        for timer in (self._watchdog, self._heartbeat):
            if timer is not None:
                timer.cancel()
        self._watchdog = self._heartbeat = None
        if self._protocol is not None:
            self._protocol.forget_all()
            if self._protocol.transport is not None:
                self._protocol.transport.close()
        self._protocol = None
        if self._sentinels is not None:
            for client in self._sentinels.sentinels:
                await client.aclose()
