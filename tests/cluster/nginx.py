"""nginx in front of the nodes: Debian's binary, run as a child with a prefix
and a config of its own in a temp folder (nothing of the machine's nginx is
read or touched).

The upstream and server blocks (`site`) are the ones README.md shows: every node,
passive health checks, idempotent requests retried on the next node when one
fails to connect, times out or answers 502/504; uploads streamed to the
node as they arrive (no request buffering), of any size (the nodes apply
their own limits). The access log is one JSON object a request, with the
node(s) that answered it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import free_port

NGINX = "/usr/sbin/nginx"
UPSTREAM = "files_manager"


def site(addresses: Sequence[str], listen: str) -> str:
    """The upstream of the nodes and the server in front of them, as an
    operator puts them in nginx's http block (README.md shows this text, for
    three nodes; a test holds the two together). Each node is left out for
    2 s after a failure, then tried again."""
    servers = "\n".join(f"    server {address} max_fails=1 fail_timeout=2s;" for address in addresses)
    return f"""# The client's X-Request-Id when it sent one, else nginx's: one id in the balancer's and the node's logs.
map $http_x_request_id $files_manager_request_id {{
    default $http_x_request_id;
    ""      $request_id;
}}

upstream {UPSTREAM} {{
{servers}
    keepalive 32;                 # connections to the nodes kept open between requests
    keepalive_timeout 60s;        # below the nodes' KEEPALIVE_TIMEOUT (75 s): nginx closes first
}}

server {{
    listen {listen};
    client_max_body_size 0;       # the nodes apply their own limits (MAX_BODY_SIZE, MAX_FILE_SIZE)
    proxy_request_buffering off;  # uploads stream to the node as they come (tus keeps what arrived)
    proxy_max_temp_file_size 0;   # downloads are not spooled to the balancer's disk

    location / {{
        proxy_pass http://{UPSTREAM};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Request-Id $files_manager_request_id;
        # A node down or hung: the request goes to the next one. Idempotent methods only
        # (no non_idempotent): a POST or PATCH is never sent twice. Not on a 503: a node says
        # it when an engine all nodes share is away (Redis failing over), which the next node
        # would say too, and counting it would take every node out of the upstream at once.
        proxy_next_upstream error timeout http_502 http_504;
        proxy_next_upstream_tries 3;
        proxy_next_upstream_timeout 10s;
        proxy_connect_timeout 1s;
        proxy_send_timeout 60s;
        proxy_read_timeout 60s;
    }}
}}
"""


def config(prefix: Path, port: int, addresses: Sequence[str], workers: int = 1) -> str:
    """A whole nginx.conf of its own: everything under `prefix`, a JSON access log."""
    user = "user root root;\n" if os.geteuid() == 0 else ""  # root: workers keep access to the prefix
    body = "\n".join(f"    {line}" if line else "" for line in site(addresses, f"127.0.0.1:{port}").splitlines())
    return f"""{user}worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    log_format cluster escape=json '{{"status":$status,"method":"$request_method","uri":"$request_uri",'
                                   '"upstream":"$upstream_addr","upstream_status":"$upstream_status",'
                                   '"msec":$msec}}';
    access_log {prefix}/access.log cluster;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;

{body}
}}
"""


@dataclass
class Nginx:
    url: str
    prefix: Path
    proc: subprocess.Popen

    @property
    def access_log(self) -> Path:
        return self.prefix / "access.log"

    def pids(self) -> list[int]:
        """The master and its workers."""
        pids = [self.proc.pid]
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{self.proc.pid}/task"):
                with open(f"/proc/{self.proc.pid}/task/{task}/children") as fh:
                    pids.extend(int(pid) for pid in fh.read().split())
        return pids


@contextlib.contextmanager
def running_nginx(prefix: Path, addresses: Sequence[str], *, workers: int = 1) -> Iterator[Nginx]:
    """nginx on a free port in front of `addresses`, until the end (then stopped: SIGQUIT, gracefully)."""
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(config(prefix, port, addresses, workers))
    proc = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                errors = (prefix / "error.log").read_text() if (prefix / "error.log").exists() else ""
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"nginx did not start:\n{errors}") from None
                time.sleep(0.02)
        yield Nginx(f"http://127.0.0.1:{port}", prefix, proc)
        proc.send_signal(signal.SIGQUIT)
        proc.wait(20)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)


class AccessLog:
    """nginx's access log read as it grows: `read` adds the lines written
    since the last call (whole lines only) to `entries` and returns them all."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[dict[str, Any]] = []
        self._offset = 0

    def read(self) -> list[dict[str, Any]]:
        if self.path.exists():
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
            whole = data[:data.rfind(b"\n") + 1]
            self._offset += len(whole)
            self.entries.extend(json.loads(line) for line in whole.splitlines() if line)
        return self.entries
