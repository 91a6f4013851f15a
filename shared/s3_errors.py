"""botocore's errors (and the HTTP client's beneath) as the domain's, for
every S3 call: NotFound for a missing object, StorageFull for a store out of
room, StorageUnavailable for anything else the store says or when it does
not answer."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError

from shared.errors import NotFound, StorageFull, StorageUnavailable

_MISSING = frozenset({"NoSuchKey", "404", "NotFound", "NoSuchUpload"})
# What stores say when they have no room (MinIO, Ceph, quota-limited buckets).
_FULL = frozenset({"XMinioStorageFull", "QuotaExceeded", "InsufficientStorage", "EntityTooLarge"})


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def s3_errors(bucket: str) -> Iterator[None]:
    """botocore's exceptions (and the HTTP client's beneath) as domain errors."""
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        if code in _MISSING:
            raise NotFound() from None
        if code == "NoSuchBucket":
            raise StorageUnavailable(f"the bucket {bucket!r} does not exist") from None
        if code in _FULL:
            raise StorageFull(f"the object store has no room: {code}") from None
        raise StorageUnavailable(f"the object store refused: {code or exc}") from None
    except (TimeoutError, BotoCoreError, aiohttp.ClientError, OSError) as exc:
        raise StorageUnavailable(f"the object store does not answer: {exc}") from None
