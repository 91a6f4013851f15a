"""A Sentinel-managed Redis of the test's own: a master, one replica
(`--replicaof`) and three `redis-sentinel` processes (quorum 2), all on free
ports of 127.0.0.1, keeping nothing on disk. Failure detection is quick
(`DOWN_AFTER_MS`), so a killed master is replaced within a few seconds.

    with sentinel_redis(folder) as engine:   # returns once a failover could happen
        engine.url                  # REDIS_URL: redis+sentinel://127.0.0.1:p1,...,127.0.0.1:p3/mymaster/0
        engine.current_master()     # the port the sentinels name as master
        engine.wait_replicated()    # the replicas hold every write made so far
        old = engine.kill_master()  # SIGKILL it; its port
        new = engine.wait_for_failover(old)  # a replica promoted; its port
        engine.restart_old_master() # it comes back empty; returns once the sentinels made it a replica

Also: `replicas()` (ports), `role(port)`, `server(port)` and `sentinel(port)`
(blocking redis-py clients), `server_url(port)`. `sentinel_redis(folder,
password=..., sentinel_password=...)` protects the data nodes and the
sentinels; `url` then carries both. The helpers block (they poll): from a
coroutine, call the slow ones through `asyncio.to_thread`.

The fixture `sentinel_engine` gives one per test (folder under tmp_path).
Everything started is stopped when the block ends, whatever happened."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
import redis

MASTER_NAME = "mymaster"
QUORUM = 2
DOWN_AFTER_MS = 1000  # a master silent this long is down (for one sentinel; ODOWN needs the quorum)
FAILOVER_TIMEOUT_MS = 4000  # how long one failover attempt may take before another is tried
START_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run the README's test command, which installs it")
    return found


def _wait(condition, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class SentinelRedis:
    """The running set. Ports are those of 127.0.0.1."""

    folder: Path
    master_name: str = MASTER_NAME
    password: str | None = None  # the data nodes' (requirepass, masterauth)
    sentinel_password: str | None = None  # the sentinels' own (requirepass)
    redis_ports: list[int] = field(default_factory=list)  # the data nodes: [first master, first replica]
    sentinel_ports: list[int] = field(default_factory=list)
    _servers: dict[int, subprocess.Popen] = field(default_factory=dict)
    _sentinels: list[subprocess.Popen] = field(default_factory=list)
    _killed: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        """REDIS_URL for the service: the sentinels, the master's name, database 0."""
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        query = f"?sentinel_password={quote(self.sentinel_password, safe='')}" if self.sentinel_password else ""
        return f"redis+sentinel://{auth}{hosts}/{self.master_name}/0{query}"

    def server_url(self, port: int) -> str:
        """A plain redis:// URL of one data node (to look at it directly)."""
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{port}/0"

    def server(self, port: int) -> redis.Redis:
        """A (blocking) client of one data node."""
        return redis.Redis(port=port, password=self.password, socket_timeout=2)

    def sentinel(self, port: int, **options) -> redis.Redis:
        """A (blocking) client of one sentinel."""
        return redis.Redis(port=port, password=self.sentinel_password, socket_timeout=2, **options)

    # --- asking ---------------------------------------------------------------

    def _ask_sentinels(self, *command: str) -> list:
        answers = []
        for port in self.sentinel_ports:
            with contextlib.suppress(redis.RedisError), self.sentinel(port) as client:
                answers.append(client.execute_command(*command))
        return answers

    def current_master(self) -> int | None:
        """The master's port, when every sentinel names the same one (None
        while they disagree, during a failover)."""
        named = {int(a[1]) for a in self._ask_sentinels("SENTINEL", "get-master-addr-by-name", self.master_name)
                 if a}
        return named.pop() if len(named) == 1 else None

    def role(self, port: int) -> str | None:
        """"master" or "slave" as that server says; None when it does not answer."""
        try:
            with self.server(port) as client:
                return client.execute_command("ROLE")[0].decode()
        except redis.RedisError:
            return None

    def replicas(self) -> list[int]:
        """The ports of the data nodes running now that are not the master."""
        master = self.current_master()
        return [port for port in self._servers if port != master]

    def wait_replicated(self, timeout: float = 10.0) -> None:
        """Until every running replica holds everything the master had
        written when this was called (a write must survive a kill)."""
        master = self.current_master()
        if master is None:
            raise AssertionError("the sentinels do not agree on a master")
        with self.server(master) as client:
            offset = int(client.info("replication")["master_repl_offset"])

        def caught_up() -> bool:
            for port in self.replicas():
                with self.server(port) as client:
                    info = client.info("replication")
                if info.get("master_link_status") != "up" or int(info.get("slave_repl_offset", -1)) < offset:
                    return False
            return True

        _wait(caught_up, "the replicas to catch up", timeout)

    def _replicas_seen(self) -> bool:
        """Every sentinel knows the other two and sees a replica in sync."""
        for port in self.sentinel_ports:
            try:
                with self.sentinel(port, decode_responses=True) as client:
                    master = client.sentinel_master(self.master_name)
                    replicas = client.sentinel_slaves(self.master_name)
            except redis.RedisError:
                return False
            if master.get("num-other-sentinels", 0) < len(self.sentinel_ports) - 1:
                return False
            if not any(r.get("master-link-status") == "ok" and not r.get("is_sdown") for r in replicas):
                return False
        return True

    def wait_until_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Until a failover could happen: the sentinels agree on a master, know
        each other and see a replica whose link is up."""
        _wait(lambda: self.current_master() is not None and self._replicas_seen(),
              "the sentinels to see the master, each other and a replica", timeout)

    # --- failures -------------------------------------------------------------

    def kill_master(self) -> int:
        """SIGKILL the current master (no goodbye, as a machine dying); its port."""
        port = self.current_master()
        if port is None:
            raise AssertionError("the sentinels do not agree on a master")
        proc = self._servers.pop(port)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        self._killed.append(port)
        return port

    def wait_for_failover(self, old: int, timeout: float = 30.0) -> int:
        """Until every sentinel names another master, which says it is one; its port."""
        def promoted() -> bool:
            port = self.current_master()
            return port is not None and port != old and self.role(port) == "master"

        _wait(promoted, f"a replica of {old} promoted", timeout)
        port = self.current_master()
        assert port is not None
        return port

    def restart_old_master(self, timeout: float = 30.0) -> int:
        """Start the last killed master again on its port, empty (nothing is
        kept on disk), and wait until the sentinels have made it a replica of
        the new master with its link up; its port."""
        port = self._killed.pop()
        self._start_server(port)
        def replica_again() -> bool:
            return self.role(port) == "slave" and self._replicas_seen()

        _wait(replica_again, f"the old master {port} turned into a replica", timeout)
        return port

    # --- processes ------------------------------------------------------------

    def _start_server(self, port: int, replica_of: int | None = None) -> None:
        data = self.folder / f"redis-{port}"
        data.mkdir(exist_ok=True)
        args = [_binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(data),
                "--logfile", str(data / "redis.log")]
        if replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(replica_of)]
        if self.password:
            args += ["--requirepass", self.password, "--masterauth", self.password]
        self._servers[port] = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        _wait(lambda: self.role(port) is not None or self._servers[port].poll() is not None,
              f"redis-server on {port}", START_TIMEOUT)
        if self._servers[port].poll() is not None:
            raise AssertionError(f"redis-server on {port} exited: {(data / 'redis.log').read_text()[-2000:]}")

    def _start_sentinel(self, port: int, master: int) -> None:
        data = self.folder / f"sentinel-{port}"
        data.mkdir(exist_ok=True)
        conf = data / "sentinel.conf"  # the sentinel rewrites it as it learns
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {data}\nlogfile {data / 'sentinel.log'}\n"
            f"sentinel monitor {self.master_name} 127.0.0.1 {master} {QUORUM}\n"
            f"sentinel down-after-milliseconds {self.master_name} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {self.master_name} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {self.master_name} 1\n"
            + (f"sentinel auth-pass {self.master_name} {json.dumps(self.password)}\n" if self.password else "")
            + (f"requirepass {json.dumps(self.sentinel_password)}\n" if self.sentinel_password else "")
        )
        self._sentinels.append(subprocess.Popen([_binary("redis-sentinel"), str(conf)],
                                                stdout=subprocess.DEVNULL))

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        master, replica = _free_port(), _free_port()
        while replica == master:
            replica = _free_port()
        self.redis_ports = [master, replica]
        self._start_server(master)
        self._start_server(replica, replica_of=master)
        ports: set[int] = {master, replica}
        while len(self.sentinel_ports) < 3:
            port = _free_port()
            if port not in ports:
                ports.add(port)
                self.sentinel_ports.append(port)
        for port in self.sentinel_ports:
            self._start_sentinel(port, master)
        self.wait_until_ready()

    def stop(self) -> None:
        for proc in [*self._sentinels, *self._servers.values()]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self._sentinels, *self._servers.values()]:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@contextlib.contextmanager
def sentinel_redis(folder: Path, *, password: str | None = None,
                   sentinel_password: str | None = None) -> Iterator[SentinelRedis]:
    """A master, a replica and three sentinels, ready for a failover; all
    stopped at the end. `folder` holds their logs and configuration;
    `password` protects the master and replica, `sentinel_password` the
    sentinels (both in `url`)."""
    engine = SentinelRedis(folder, password=password, sentinel_password=sentinel_password)
    try:
        engine.start()
        yield engine
    finally:
        engine.stop()


@pytest.fixture
def sentinel_engine(tmp_path: Path) -> Iterator[SentinelRedis]:
    """A Sentinel-managed Redis for this test (see the module doc)."""
    folder = tmp_path / "sentinel"
    folder.mkdir()
    with sentinel_redis(folder) as engine:
        yield engine
