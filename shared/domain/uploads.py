"""Resumable (tus) uploads: the rules, whatever the protocol's spelling.

What an upload may be (its length against storage.max_file_size, its
metadata: a valid name, a parent folder of the user, public or not), where
its bytes live while it grows (`<folder>/.uploads/<id>.part`), which blob it
becomes (a name derived from the upload's id, so that finishing again after
a crash finds the same blob), and when it expires. Nothing here knows HTTP.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.errors import Invalid, TooLarge
from shared.storage import PARENT_NOT_FOUND, ParentId, Upload, is_root, new_id

from .names import valid_name

# Upload-Checksum algorithms (tus checksum extension), in the order announced.
CHECKSUM_ALGORITHMS: dict[str, Callable[[], Any]] = {
    "sha1": hashlib.sha1,
    "md5": hashlib.md5,
    "sha256": hashlib.sha256,
}

PARTS_FOLDER = ".uploads"  # hidden: the folder's listing stays blobs only (see shared/blobs.py)
PART_SUFFIX = ".part"
# Blob names of finished uploads: uuid5(this, upload id), a UUID like every blob.
_BLOB_NAMESPACE = uuid.UUID("8c0f6d1e-7a4b-5e2f-9b1a-3d6c2e8f4a10")

# Metadata keys (wire names, as the clients send them).
FILENAME = "filename"
PARENT_ID = "parentId"
IS_PUBLIC = "isPublic"


@dataclass(frozen=True, slots=True)
class UploadMeta:
    name: str
    parent_value: str | None  # as sent, None when absent or "": "0" for the root too, else a folder id
    is_public: bool


def check_length(length: int, max_file_size: int) -> None:
    if length > max_file_size:
        raise TooLarge()


def upload_meta(pairs: Mapping[str, bytes]) -> UploadMeta:
    """The metadata we use, validated; other keys (a client's `filetype`, say) are ignored."""
    raw_name = pairs.get(FILENAME)
    if raw_name is None:
        raise Invalid("Missing filename in Upload-Metadata")
    name = valid_name(_text(raw_name, "Invalid name"))
    parent = _text(pairs.get(PARENT_ID, b""), PARENT_NOT_FOUND)
    raw_public = _text(pairs.get(IS_PUBLIC, b"false"), "Invalid isPublic: expected true or false")
    if raw_public not in ("true", "false"):
        raise Invalid("Invalid isPublic: expected true or false")
    return UploadMeta(name, parent or None, raw_public == "true")


def parts_folder(folder: Path) -> Path:
    return folder / PARTS_FOLDER


def new_upload(user_id: str, length: int, meta: UploadMeta, parent_id: ParentId, folder: Path,
               now: float, expiry: float) -> Upload:
    upload_id = new_id()
    return Upload(
        id=upload_id, user_id=user_id, length=length, offset=0, name=meta.name,
        parent_id=parent_id, is_public=meta.is_public,
        part_path=str(parts_folder(folder) / f"{upload_id}{PART_SUFFIX}"),
        created_at=now, expires_at=now + expiry,
    )


def upload_blob_name(upload_id: str) -> str:
    """The blob the finished upload's content becomes: the same name every
    time the same upload is finished (a retry after a crash between storing
    the blob and writing the document finds the blob there)."""
    return str(uuid.uuid5(_BLOB_NAMESPACE, upload_id))


def is_expired(upload: Upload, now: float) -> bool:
    return now >= upload.expires_at


def metadata_of(upload: Upload) -> dict[str, str]:
    """The metadata a HEAD repeats, from what was stored (normalised)."""
    parent = upload.parent_id
    return {
        FILENAME: upload.name,
        PARENT_ID: "0" if is_root(parent) else str(parent),
        IS_PUBLIC: "true" if upload.is_public else "false",
    }


def _text(value: bytes, message: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid(message) from None
