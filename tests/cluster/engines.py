"""The engines every node of a cluster shares, chosen in one place.

`shared_engines` is the only function the cluster tests and
bench/cluster_bench.py ask for their engines; the nodes get them as
environment variables (`Engines.env`), exactly as an operator would set them
on each machine. Today it gives what several nodes can share on one machine:
one SQLite file, one content folder and one redis-server. Moving the cluster
onto PostgreSQL, an S3 endpoint and Sentinel-managed Redis is a change to this
function alone (tests/engines/ has their context managers).
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
    blob_url: str = ""
    s3_endpoint_url: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)  # e.g. AWS_ACCESS_KEY_ID for the S3 endpoint

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
