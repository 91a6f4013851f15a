"""The engines every node of a cluster shares, chosen in one place.

`shared_engines` is the only function the cluster tests and
bench/cluster_bench.py ask for their engines; the nodes get them as
environment variables (`Engines.env`), exactly as an operator would set them
on each machine. Today it gives what several nodes can share on one machine:
one SQLite file, one content folder and one redis-server. Moving the cluster
onto PostgreSQL, an S3 endpoint and Sentinel-managed Redis is a change to this
function alone, with the context managers of tests/engines/:

    with pg_database() as db_url, running_s3(folder) as s3, sentinel_redis(folder / "sentinel") as redis:
        bucket = make_bucket(s3)
        yield Engines(db_url=db_url, redis_url=redis.url,
                      redis_master_url=redis.server_url(redis.current_master()),
                      folder_path=str(folder / "files"),  # tus parts: shared by the nodes
                      blob_url=f"s3://{bucket}/files", s3_endpoint_url=s3.endpoint,
                      extra={**s3.env, "S3_ADDRESSING_STYLE": "path"})
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import private_redis


@dataclass(frozen=True)
class Engines:
    """Where the state of every node lives: the same for all of them."""

    db_url: str
    redis_url: str
    folder_path: str  # content when blob_url is empty; tus parts in any case
    redis_master_url: str = ""  # plain redis:// of the master, for tests to look into; "" = redis_url
    blob_url: str = ""
    s3_endpoint_url: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)  # e.g. AWS_ACCESS_KEY_ID for the S3 endpoint

    @property
    def redis_direct_url(self) -> str:
        """A URL redis-py opens as it is (a redis+sentinel:// URL is the service's own)."""
        return self.redis_master_url or self.redis_url

    def env(self) -> dict[str, str]:
        return {
            "DB_URL": self.db_url,
            "REDIS_URL": self.redis_url,
            "FOLDER_PATH": self.folder_path,
            "BLOB_URL": self.blob_url,
            "S3_ENDPOINT_URL": self.s3_endpoint_url,
            **self.extra,
        }


@contextlib.contextmanager
def shared_engines(folder: Path) -> Iterator[Engines]:
    """The cluster's engines, made under `folder` and gone at the end."""
    redis_folder = folder / "redis"
    redis_folder.mkdir(parents=True, exist_ok=True)
    with private_redis(redis_folder) as (redis_url, _):
        yield Engines(db_url=f"sqlite:///{folder / 'db.sqlite3'}", redis_url=redis_url,
                      folder_path=str(folder / "files"))
