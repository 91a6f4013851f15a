"""What the service asks of wherever content and thumbnails live: one
interface, two implementations chosen by `storage.blob_url`:

- the local folder (shared/blobs.py, `storage.folder_path`): blobs are files,
  sent with zero-copy sendfile;
- an S3-compatible object store (shared/s3_blobs.py, `s3://bucket/prefix`).

A blob is named by a UUID; its `location` (what a document keeps as
`local_path`) is a path in the folder or `s3://bucket/prefix/<uuid>`, so
`shared.storage.blob_name(location)` is the UUID either way and purge jobs,
which carry names, read the same. Thumbnails sit beside their original as
`<location>_<width>`.

Errors are the domain's: NotFound (no such blob), StorageUnavailable (the
store does not answer, or its bucket is missing), StorageFull (no room).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

# An upload's bytes go to its writer in batches of at least this much: one
# thread hop (or hash update) per MiB rather than one per network read.
WRITE_BATCH = 1 << 20
# Bytes of the start of a blob its writer keeps (`BlobWriter.head`): enough to
# recognise any format by its magic number (shared/domain/sniff.py).
HEAD_BYTES = 64
# The thumbnails every image gets, largest first: `<blob>_500`, `<blob>_250`, `<blob>_100`.
THUMBNAIL_WIDTHS: tuple[int, ...] = (500, 250, 100)


def thumbnail_path(location: str, width: int) -> str:
    return f"{location}_{width}"


@dataclass(frozen=True, slots=True)
class BlobInfo:
    size: int
    etag: str  # the entity tag's value, without quotes
    modified: float  # seconds since the epoch


@dataclass(frozen=True, slots=True)
class ListedBlob:
    """An entry of the store's listing (hidden names, such as tus chunks, excluded)."""

    name: str
    modified: float
    size: int


@dataclass(frozen=True, slots=True)
class ServedAs:
    """The headers a presigned download should come back with (what the
    safe-serving rules can carry through an object store's response overrides)."""

    content_type: str
    content_disposition: str
    cache_control: str


class BlobWriter(Protocol):
    """One blob being written as it arrives: `write` the bytes in order, then
    `commit` or `abort`. Used as `async with`, anything but a commit (an error,
    a cancelled request, a client gone) leaves nothing behind."""

    path: str  # the blob's location once committed
    size: int
    head: bytes  # the first HEAD_BYTES bytes

    @property
    def sha256(self) -> str: ...

    async def write(self, data: bytes) -> None: ...

    async def commit(self) -> str: ...

    async def abort(self) -> None: ...

    async def __aenter__(self) -> BlobWriter: ...

    async def __aexit__(self, *exc_info: object) -> None: ...


class BlobStore(Protocol):
    def writer(self, batch: int = WRITE_BATCH) -> BlobWriter:
        """A new blob with a fresh UUID name; `async with` it, then commit."""
        ...

    def location(self, name: str) -> str:
        """The location of the blob called `name`."""
        ...

    def local_file(self, location: str) -> str | None:
        """The file to send with sendfile, or None when the blob is not on this machine."""
        ...

    async def info(self, location: str) -> BlobInfo:
        """Size, ETag and modification time; NotFound when there is no such blob."""
        ...

    def read(self, location: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes [start, end) streamed; NotFound (when iterated) if missing."""
        ...

    async def open(self, location: str) -> tuple[BlobInfo, AsyncIterator[bytes]]:
        """What `info` and `read` of the whole blob give, with one request to
        the store where it can; NotFound when there is no such blob. The
        caller reads the chunks to their end or closes them (aclose)."""
        ...

    async def presigned_url(self, location: str, served: ServedAs, expiry: int) -> str | None:
        """A URL where a client gets the blob with `served`'s headers for
        `expiry` seconds; None when the store cannot give one (the folder)."""
        ...

    async def put_file(self, location: str, path: str) -> None:
        """Store the local file `path` as the blob at `location`, durably (streamed)."""
        ...

    async def fetch_file(self, location: str, path: str) -> None:
        """Copy the blob to the local file `path` (streamed); NotFound if missing."""
        ...

    async def remove(self, location: str) -> None:
        """Remove a blob and its thumbnails; missing ones are fine."""
        ...

    async def remove_files(self, names: list[str]) -> int:
        """Remove exactly the blobs or thumbnails called `names`; how many went."""
        ...

    def listing(self) -> AsyncIterator[ListedBlob]:
        """Every blob and thumbnail in the store (hidden names left out)."""
        ...

    async def check(self) -> None:
        """Whether the store answers and is there: StorageUnavailable saying why if not."""
        ...
