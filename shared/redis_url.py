"""`redis+sentinel://` URLs: the sentinels to ask, the master's name, the
database, and two sets of credentials.

    redis+sentinel://[user:password@]host[:26379][,host2[:26379]...]/master[/db][?query]

The user and password before the hosts are the Redis servers' (the master's
and its replicas', which share them), as in a redis:// URL. The sentinels
may have their own: `sentinel_username` and `sentinel_password` in the
query. Percent-encode what is not a plain character in either (`@` is `%40`).
No dependency on redis-py, so the configuration can check a URL without it."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

SCHEME = "redis+sentinel://"
DEFAULT_PORT = 26379
_QUERY = ("sentinel_username", "sentinel_password")


@dataclass(frozen=True)
class SentinelLocation:
    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None


def is_sentinel(url: str) -> bool:
    return url.startswith(SCHEME)


def _host_port(text: str) -> tuple[str, int]:
    if text.startswith("["):  # [IPv6]:port
        host, bracket, rest = text[1:].partition("]")
        if not bracket or not host or (rest and not rest.startswith(":")):
            raise ValueError(f"{text!r} is not host:port")
        port_text = rest[1:] if rest else ""
    else:
        host, _, port_text = text.partition(":")
        if not host or ":" in port_text:
            raise ValueError(f"{text!r} is not host:port")
    if port_text == "":
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{port_text!r} in {text!r} is not a port number")
    return host, int(port_text)


def sentinel_location(url: str) -> SentinelLocation:
    """The parts of a redis+sentinel:// URL; ValueError saying what is wrong
    (never quoting a password)."""
    if not is_sentinel(url):
        raise ValueError("not a redis+sentinel:// URL")
    rest, _, query = url[len(SCHEME):].partition("?")
    rest = rest.partition("#")[0]
    hosts, slash, path = rest.partition("/")
    username = password = None
    if "@" in hosts:
        credentials, _, hosts = hosts.rpartition("@")
        user, colon, secret = credentials.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    if not hosts:
        raise ValueError("no sentinel named: redis+sentinel://host:26379[,host2:26379...]/master[/db]")
    sentinels = tuple(_host_port(part.strip()) for part in hosts.split(","))
    parts = path.strip("/").split("/") if slash else [""]
    master = unquote(parts[0])
    if not master:
        raise ValueError("no master name after the sentinels: redis+sentinel://host:26379/master[/db]")
    if len(parts) > 2:
        raise ValueError(f"{path!r} is not master/db")
    db_text = parts[1] if len(parts) == 2 else "0"
    if not db_text.isdigit():
        raise ValueError(f"{db_text!r} is not a database number")
    options: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        if name not in _QUERY:
            raise ValueError(f"unknown option {name!r} (known: {', '.join(_QUERY)})")
        options[name] = value
    return SentinelLocation(
        sentinels=sentinels, master=master, db=int(db_text), username=username, password=password,
        sentinel_username=options.get("sentinel_username") or None,
        sentinel_password=options.get("sentinel_password") or None,
    )
