"""The engines every node of a cluster shares, chosen in one place: one
PostgreSQL database, one bucket of an S3 endpoint (moto's server) and one
Sentinel-managed Redis (a master, a replica, three sentinels), made with the
context managers of tests/engines/.

`shared_engines` is the only function the cluster tests and
bench/cluster_bench.py ask for their engines; the nodes get them as
environment variables (`Engines.env`), exactly as an operator would set them
on each machine. Nothing else is shared: each node has a folder of its own
(tests/cluster/nodes.py), as separate machines would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.engines.postgres import pg_database
from tests.engines.s3 import make_bucket, running_s3
from tests.engines.sentinel import SentinelRedis, sentinel_redis


@dataclass(frozen=True)
class Engines:
    """Where the state of every node lives: the same for all of them."""

    db_url: str
    redis_url: str
    blob_url: str
    s3_endpoint_url: str
    redis: SentinelRedis | None = None  # the Sentinel group, for tests that fail its master over
    extra: Mapping[str, str] = field(default_factory=dict)  # e.g. AWS_ACCESS_KEY_ID for the S3 endpoint

    def env(self) -> dict[str, str]:
        return {
            "DB_URL": self.db_url,
            "REDIS_URL": self.redis_url,
            "BLOB_URL": self.blob_url,
            "S3_ENDPOINT_URL": self.s3_endpoint_url,
            **self.extra,
        }


@contextlib.contextmanager
def shared_engines(folder: Path) -> Iterator[Engines]:
    """The cluster's engines, made under `folder` and gone at the end."""
    (folder / "sentinel").mkdir(parents=True, exist_ok=True)
    (folder / "s3").mkdir(parents=True, exist_ok=True)
    with pg_database(prefix="fm_cluster") as db_url, running_s3(folder / "s3") as s3, \
            sentinel_redis(folder / "sentinel") as redis:
        bucket = make_bucket(s3)
        yield Engines(db_url=db_url, redis_url=redis.url, blob_url=f"s3://{bucket}/files",
                      s3_endpoint_url=s3.endpoint, redis=redis,
                      extra={**s3.env, "S3_ADDRESSING_STYLE": "path"})
