"""Settings: frozen dataclasses loaded once, from config.toml < environment < flags.

Every setting has a default in `config.toml` and an environment name. Anything
wrong (missing file, unknown key, bad value) raises `ConfigError` with one line
naming the culprit; the entry points print it and exit with code 2.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# storage.folder_path left empty: content beside the embedded database, except in
# the original's mode (DB_HOST naming its MongoDB), where a drop-in must find the
# original's files at the original's default.
DEFAULT_FOLDER = "data/files"
ORIGINAL_FOLDER = "/tmp/files_manager"
_CREDENTIALS_IN_URL = re.compile(r"//[^@/]*@")
_PASSWORD_IN_QUERY = re.compile(r"(password=)[^&#]*", re.IGNORECASE)  # redis+sentinel's sentinel_password
_BOOLEANS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}
# An S3 bucket name (the rules all S3-compatible stores accept): 3-63 of a-z 0-9 . -
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
DEFAULT_CONFIG = PROJECT_ROOT / "config.toml"


class ConfigError(Exception):
    """A setting cannot be used; the message names it (exit code 2)."""


def _env(name: str, **extra: Any) -> Any:
    return field(metadata={"env": name, **extra})


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _ip_network(text: str) -> IPNetwork:
    """An IP address (a network of one) or a CIDR network."""
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address or network (CIDR, without host bits)") from None


@dataclass(frozen=True)
class ServerSettings:
    host: str = _env("HOST")
    port: int = _env("PORT", min=1, max=65535)
    workers: int = _env("API_WORKERS", min=0)  # 0: one per CPU
    max_body_size: int = _env("MAX_BODY_SIZE", min=1024)
    shutdown_timeout: float = _env("SHUTDOWN_TIMEOUT", min=0.0)
    # Slow clients and request bodies (services/api/timeouts.py, bodies.py, inflight.py).
    header_timeout: float = _env("HEADER_TIMEOUT", min=0.1)
    body_timeout: float = _env("BODY_TIMEOUT", min=0.1)
    keepalive_timeout: float = _env("KEEPALIVE_TIMEOUT", min=0.1)
    max_inflight_body_bytes: int = _env("MAX_INFLIGHT_BODY_BYTES", min=1024)
    # Peers whose X-Forwarded-For names the client (a list; comma-separated in the environment).
    trusted_proxies: tuple[IPNetwork, ...] = _env("TRUSTED_PROXIES", item=_ip_network)
    # Recycling an API worker (its replacement is ready first): after this many
    # requests (+ up to jitter, so workers do not all recycle at once), or past
    # this resident memory. 0: never.
    max_requests: int = _env("MAX_REQUESTS", min=0)
    max_requests_jitter: int = _env("MAX_REQUESTS_JITTER", min=0)
    max_memory: int = _env("MAX_MEMORY", min=0)
    readiness_timeout: float = _env("READINESS_TIMEOUT", min=0.01)  # /readyz: each backend must answer within it


@dataclass(frozen=True)
class StorageSettings:
    db_url: str = _env("DB_URL")
    folder_path: Path = _env("FOLDER_PATH")
    write_timeout: float = _env("DB_WRITE_TIMEOUT", min=0.01)
    max_file_size: int = _env("MAX_FILE_SIZE", min=1)  # bytes of one file (v2, tus): else 413
    default_quota: int = _env("DEFAULT_QUOTA", min=0)  # bytes per user, live + trashed; 0 = unlimited
    # "auto": missing schema migrations are applied at start (under the database's lock);
    # "manual": a node refuses to start on an old schema (`python supervisor.py migrate` first).
    migrate: str = _env("DB_MIGRATE", choices=("auto", "manual"))
    pool_size: int = _env("DB_POOL_SIZE", min=1, max=1000)  # PostgreSQL connections per process at most
    blob_url: str = _env("BLOB_URL")  # s3://bucket/prefix; "" = folder_path
    s3_endpoint_url: str = _env("S3_ENDPOINT_URL")  # "" = AWS; else MinIO, Ceph, R2, ...


@dataclass(frozen=True)
class BlobSettings:
    """Content in an S3-compatible store (storage.blob_url = s3://...)."""

    redirect_downloads: bool = _env("BLOBS_REDIRECT_DOWNLOADS")  # content as a 302 to a presigned URL
    presign_expiry: int = _env("BLOBS_PRESIGN_EXPIRY", min=1, max=604800)  # seconds a presigned URL works
    s3_addressing_style: str = _env("S3_ADDRESSING_STYLE", choices=("auto", "path", "virtual"))
    part_size: int = _env("BLOBS_PART_SIZE", min=5 * 1024 * 1024, max=64 * 1024 * 1024)  # multipart upload


@dataclass(frozen=True)
class RedisSettings:
    url: str = _env("REDIS_URL")  # redis://, rediss://, unix:// or redis+sentinel://host:26379,host2/master/0
    # When the master has replicas, an enqueue waits (WAIT 1) this long for one to hold the job; 0 = never waits.
    replica_wait_timeout: float = _env("REDIS_REPLICA_WAIT_TIMEOUT", min=0.0)


@dataclass(frozen=True)
class SecuritySettings:
    token_ttl: int = _env("TOKEN_TTL", min=1)
    argon2_time_cost: int = _env("ARGON2_TIME_COST", min=1)
    argon2_memory_kib: int = _env("ARGON2_MEMORY_KIB", min=8)
    hash_threads: int = _env("HASH_THREADS", min=1)
    # Brute force (api-v2.md): failed logins per (account, client address) and
    # per client address within a window; sign-ups per client address.
    login_max_failures: int = _env("LOGIN_MAX_FAILURES", min=1)
    login_max_failures_per_address: int = _env("LOGIN_MAX_FAILURES_PER_ADDRESS", min=1)
    login_failure_window: float = _env("LOGIN_FAILURE_WINDOW", min=0.001)
    signup_max_per_address: int = _env("SIGNUP_MAX_PER_ADDRESS", min=1)
    signup_window: float = _env("SIGNUP_WINDOW", min=0.001)
    signup: str = _env("SIGNUP", choices=("open", "closed"))  # closed: only the operator CLI adds users


@dataclass(frozen=True)
class WorkerSettings:
    processes: int = _env("JOB_WORKERS", min=0)
    concurrency: int = _env("WORKER_CONCURRENCY", min=1)
    max_attempts: int = _env("WORKER_MAX_ATTEMPTS", min=1)
    retry_base_delay: float = _env("WORKER_RETRY_BASE_DELAY", min=0.0)
    retry_max_delay: float = _env("WORKER_RETRY_MAX_DELAY", min=0.0)
    claim_idle: float = _env("WORKER_CLAIM_IDLE", min=0.1)
    max_image_pixels: int = _env("WORKER_MAX_IMAGE_PIXELS", min=1)
    cpu_threads: int = _env("WORKER_CPU_THREADS", min=0)  # 0: one per CPU
    stale_part_age: float = _env("WORKER_STALE_PART_AGE", min=0.0)
    orphan_age: float = _env("WORKER_ORPHAN_AGE", min=60.0)
    orphan_sweep_every: float = _env("WORKER_ORPHAN_SWEEP_EVERY", min=0.0)  # 0: never
    purge_every: float = _env("WORKER_PURGE_EVERY", min=0.0)  # trash retention, expired uploads; 0: never


@dataclass(frozen=True)
class TrashSettings:
    retention_days: float = _env("TRASH_RETENTION_DAYS", min=0.0)  # 0: kept until emptied


@dataclass(frozen=True)
class LinkSettings:
    default_expiry: int = _env("LINKS_DEFAULT_EXPIRY", min=1)  # seconds a share link lives unless asked
    max_expiry: int = _env("LINKS_MAX_EXPIRY", min=1)  # the longest a share link may be asked to live


@dataclass(frozen=True)
class UploadSettings:
    expiry: float = _env("UPLOAD_EXPIRY", min=1.0)  # seconds an unfinished tus upload is kept


@dataclass(frozen=True)
class SupervisorSettings:
    graceful_timeout: float = _env("GRACEFUL_TIMEOUT", min=0.0)
    heartbeat_timeout: float = _env("HEARTBEAT_TIMEOUT", min=0.1)
    start_timeout: float = _env("START_TIMEOUT", min=0.1)
    crash_limit: int = _env("CRASH_LIMIT", min=1)
    crash_window: float = _env("CRASH_WINDOW", min=0.1)


@dataclass(frozen=True)
class MetricsSettings:
    token: str = _env("METRICS_TOKEN")  # Bearer token for /metrics on the main port; "" = not there
    port: int = _env("METRICS_PORT", min=0, max=65535)  # /metrics on 127.0.0.1:port, served by the master; 0 = not
    host: str = _env("METRICS_HOST")


@dataclass(frozen=True)
class LogSettings:
    level: str = _env("LOG_LEVEL", choices=("debug", "info", "warning", "error"))
    format: str = _env("LOG_FORMAT", choices=("auto", "json", "console"))


@dataclass(frozen=True)
class Settings:
    server: ServerSettings
    storage: StorageSettings
    blobs: BlobSettings
    redis: RedisSettings
    security: SecuritySettings
    worker: WorkerSettings
    trash: TrashSettings
    links: LinkSettings
    uploads: UploadSettings
    supervisor: SupervisorSettings
    metrics: MetricsSettings
    log: LogSettings
    source: Path = DEFAULT_CONFIG

    def replace(self, **sections: Any) -> Settings:
        """A copy with some fields of some sections changed: replace(server={"port": 0})."""
        changed = {
            name: dataclasses.replace(getattr(self, name), **values)
            for name, values in sections.items()
        }
        return dataclasses.replace(self, **changed)


_SECTIONS: dict[str, type] = {
    f.name: f.type if isinstance(f.type, type) else globals()[f.type]
    for f in dataclasses.fields(Settings)
    if f.name != "source"
}


def _coerce_list(where: str, raw: Any, meta: Mapping[str, Any]) -> tuple[Any, ...]:
    """A list setting: a TOML array of strings, or in the environment one string
    of comma-separated items; `meta["item"]` turns each into its value or
    raises ValueError saying what is wrong with it."""
    if isinstance(raw, str):
        items = [item.strip() for item in raw.split(",") if item.strip()]
    elif isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        items = [item.strip() for item in raw]
    else:
        raise ConfigError(f"{where}: {raw!r} is not a list of strings")
    values = []
    for item in items:
        try:
            values.append(meta["item"](item))
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return tuple(values)


def _coerce(where: str, raw: Any, typ: Any, meta: Mapping[str, Any]) -> Any:
    """Turn a TOML or environment value into the field's type, checking its bounds."""
    if "item" in meta:
        return _coerce_list(where, raw, meta)
    typ = {"int": int, "float": float, "str": str, "Path": Path, "bool": bool}.get(typ, typ)
    try:
        if typ is bool:
            if isinstance(raw, str) and raw.strip().lower() in _BOOLEANS:
                value: Any = _BOOLEANS[raw.strip().lower()]
            elif isinstance(raw, bool):
                value = raw
            else:
                raise ValueError
        elif typ is int:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            value = int(raw.strip()) if isinstance(raw, str) else int(raw)
        elif typ is float:
            if isinstance(raw, bool):
                raise ValueError
            value = float(raw)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError
        elif typ is Path:
            if not isinstance(raw, str) or not raw:
                raise ValueError
            path = Path(raw).expanduser()
            value = path if path.is_absolute() else PROJECT_ROOT / path
        else:
            if not isinstance(raw, str):
                raise ValueError
            value = raw
    except (TypeError, ValueError):
        kind = {int: "a whole number", float: "a number", Path: "a path",
                bool: "true or false"}.get(typ, "a string")
        raise ConfigError(f"{where}: {raw!r} is not {kind}") from None
    if "min" in meta and value < meta["min"]:
        raise ConfigError(f"{where}: {raw!r} is below the minimum {meta['min']}")
    if "max" in meta and value > meta["max"]:
        raise ConfigError(f"{where}: {raw!r} is above the maximum {meta['max']}")
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(f"{where}: {raw!r} is not one of {', '.join(meta['choices'])}")
    return value


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: invalid TOML: {exc}") from None


def _mongo_url_from_original_env(env: Mapping[str, str]) -> str | None:
    """The original service's names: DB_HOST (+ DB_PORT, DB_DATABASE) mean MongoDB."""
    host = env.get("DB_HOST")
    if not host:
        return None
    port = env.get("DB_PORT") or "27017"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"DB_PORT: {port!r} is not a port number")
    database = env.get("DB_DATABASE") or "files_manager"
    return f"mongodb://{host}:{port}/{quote(database, safe='')}"


def redact(url: str) -> str:
    """The URL without its user and password, fit for logs and error messages."""
    return _PASSWORD_IN_QUERY.sub(r"\1***", _CREDENTIALS_IN_URL.sub("//***@", url))


def _check_db_url(url: str) -> None:
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return
    if url.startswith(("postgresql://", "postgres://")) and len(url.split("://", 1)[1]) > 0:
        return  # asyncpg parses the rest at start; a bad URL is a start-up check's error
    if url.startswith("mongodb+srv://"):
        return  # checking it means a DNS look-up: left to the start-up check
    if url.startswith("mongodb://"):
        from pymongo.uri_parser import parse_uri

        try:
            parse_uri(url)
        except Exception as exc:  # noqa: BLE001 - pymongo raises several kinds for a bad URL
            raise ConfigError(f"storage.db_url (DB_URL): invalid MongoDB URL: {exc}") from None
        return
    raise ConfigError(
        f"storage.db_url (DB_URL): {redact(url)!r} is none of sqlite:///path, postgresql://... or mongodb://..."
    )


_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def _check_redis_url(url: str) -> None:
    from .redis_url import is_sentinel, sentinel_location

    if is_sentinel(url):
        try:
            sentinel_location(url)
        except ValueError as exc:
            raise ConfigError(f"redis.url (REDIS_URL): {redact(url)!r}: {exc}") from None
        return
    if not url.startswith(_REDIS_SCHEMES):
        raise ConfigError(
            f"redis.url (REDIS_URL): {redact(url)!r} is none of redis://, rediss://, unix:// "
            "or redis+sentinel://host:26379[,host2:26379...]/master[/db]"
        )


def blob_location(url: str) -> tuple[str, str]:
    """`s3://bucket/prefix` as (bucket, prefix), the prefix without slashes at
    either end ("" for the bucket's top). ValueError saying what is wrong."""
    if not url.startswith("s3://"):
        raise ValueError(f"{url!r} is not s3://bucket/prefix")
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ValueError(f"{bucket!r} is not an S3 bucket name (3-63 of a-z, 0-9, '.', '-')")
    return bucket, prefix.strip("/")


def _check_blob_url(url: str) -> None:
    if url == "":
        return
    try:
        blob_location(url)
    except ValueError as exc:
        raise ConfigError(f"storage.blob_url (BLOB_URL): {exc}") from None


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read the file, apply the environment, then `overrides` ("section.key" -> value)."""
    env = os.environ if env is None else env
    path = Path(config_path) if config_path is not None else DEFAULT_CONFIG
    data = _read_file(path)
    overrides = dict(overrides or {})

    for name in data:
        if name not in _SECTIONS:
            raise ConfigError(f"{path}: unknown section [{name}]")
    for key in overrides:
        section, _, option = key.partition(".")
        known = _SECTIONS.get(section)
        if known is None or option not in {f.name for f in dataclasses.fields(known)}:
            raise ConfigError(f"unknown setting {key}")

    db_url_from_env = _mongo_url_from_original_env(env)
    original_mode = False  # the database named by DB_HOST (the original's variables)
    sections: dict[str, Any] = {}
    for section, cls in _SECTIONS.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{section}] must be a table")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for key in table:
            if key not in fields:
                raise ConfigError(f"{path}: unknown setting {section}.{key}")
        values = {}
        for name, f in fields.items():
            env_name = f.metadata["env"]
            where = f"{section}.{name}"
            if f"{section}.{name}" in overrides:
                raw, where = overrides[f"{section}.{name}"], f"{where} (command line)"
            elif env.get(env_name) not in (None, ""):
                raw, where = env[env_name], f"{where} ({env_name})"
            elif section == "storage" and name == "db_url" and db_url_from_env:
                raw, where = db_url_from_env, f"{where} (DB_HOST)"
                original_mode = True
            elif name in table:
                raw, where = table[name], f"{where} ({path.name})"
            else:
                raise ConfigError(f"{path}: missing setting {section}.{name}")
            if section == "storage" and name == "folder_path" and raw == "":
                raw = ORIGINAL_FOLDER if original_mode else DEFAULT_FOLDER
            values[name] = _coerce(where, raw, f.type, f.metadata)
        sections[section] = cls(**values)

    settings = Settings(**sections, source=path.resolve())
    _check_db_url(settings.storage.db_url)
    _check_blob_url(settings.storage.blob_url)
    _check_redis_url(settings.redis.url)
    return settings


def is_volatile(folder: Path) -> bool:
    """Whether `folder` is under /tmp, which a reboot (or systemd-tmpfiles) empties."""
    tmp = Path("/tmp").resolve()
    resolved = folder.resolve()
    return resolved == tmp or tmp in resolved.parents


def cpu_count() -> int:
    """CPUs this process may use (affinity-aware), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
