"""MongoDB documents <-> domain objects, and the query pieces every part of
the backend shares. No I/O here.

The original's fields are read leniently (see mongo.py); the fields v2 adds
beside them (camelCase) may be missing from documents written by the
original or other tools, which then read as: times from the id, size,
hash and MIME type unknown (None), never trashed, no thumbnails.

Times are stored as epoch seconds (doubles), as the domain holds them: a
BSON date would round them to milliseconds.

Derived fields, kept by every write of ours and filled for documents written
without them (mongo_setup.fill_file_keys), exist only so that v2 lists are
index seeks:
  nameKey  base.name_key(name): what names sort and are searched by
  kind     0 for folders, 1 otherwise: folders first
  sizeKey  size, 0 when unknown: a missing size sorts as 0
  seq      the v1 order within a folder (users.lastSeq hands them out);
           missing on the original's documents, which sort first, by id
  trashTop true on the item whose deletion trashed it and everything below
"""

from __future__ import annotations

import datetime
from typing import Any

from bson import ObjectId
from bson.errors import BSONError
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, PyMongoError

from ..errors import Invalid, StorageFull, StorageUnavailable
from .base import (
    ROOT,
    FileRecord,
    NewFile,
    ParentId,
    User,
    is_id,
    is_root,
    name_key,
)
from .guard import unstorable_text

ROOT_VALUES: list[Any] = [0, "0"]

# Live: never trashed (the original's documents have no trashedAt) or restored.
LIVE: dict[str, Any] = {"trashedAt": None}

# MongoDB's OutOfDiskSpace, and what WiredTiger and Atlas say when out of room.
_OUT_OF_SPACE_CODES = frozenset({14031})
_OUT_OF_SPACE_TEXT = ("no space left on device", "over your space quota")


class MongoBase:
    """The collections every part of MongoStorage works on (set by its __init__)."""

    _users: AsyncCollection
    _files: AsyncCollection
    _links: AsyncCollection
    _uploads: AsyncCollection


def _out_of_space(exc: PyMongoError) -> bool:
    codes = {getattr(exc, "code", None)}
    if isinstance(exc, BulkWriteError):
        codes |= {e.get("code") for e in exc.details.get("writeErrors", [])}
    text = str(exc).lower()
    return bool(codes & _OUT_OF_SPACE_CODES) or any(t in text for t in _OUT_OF_SPACE_TEXT)


def domain_error(exc: Exception) -> Exception | None:
    """The domain error for a driver's exception (None: not one of ours to translate)."""
    if isinstance(exc, PyMongoError):
        if _out_of_space(exc):
            return StorageFull(f"MongoDB: {exc}")
        # Unreachable, timed out, no primary, refused our credentials, closed:
        # the database is not usable now, whatever the request.
        return StorageUnavailable(f"MongoDB: {exc}")
    if isinstance(exc, BSONError):  # a value BSON cannot hold (a document over 16 MiB)
        return Invalid(f"Invalid document: {exc}")
    return unstorable_text(exc)


def id_variants(value: str) -> dict[str, list[Any]]:
    """Match an id stored as an ObjectId (ours, the original's) or as hex text (other clients)."""
    variants: list[Any] = [ObjectId(value), value.lower()]
    if value != value.lower():
        variants.append(value)
    return {"$in": variants}


def ids_variants(values: list[Any]) -> dict[str, list[Any]]:
    """Match any of several ids (ObjectIds or 24-hex text), however each is stored."""
    variants: list[Any] = []
    for value in values:
        text = str(value).lower()
        variants += [ObjectId(text), text]
    return {"$in": variants}


def parent_match(parent_id: ParentId) -> dict[str, Any] | None:
    """The parentId condition for a folder's items (None: a malformed id, matching nothing)."""
    if is_root(parent_id):
        return {"$in": ROOT_VALUES}
    if is_id(parent_id):
        return id_variants(str(parent_id))
    return None


def stored_parent(parent_id: ParentId) -> Any:
    """How we store a parent: the number 0 at the root (as the original), else an ObjectId."""
    return ROOT if is_root(parent_id) else ObjectId(str(parent_id))


def stored_id(value: str) -> Any:
    """An id as we store it: an ObjectId when well formed, else the text itself."""
    return ObjectId(value) if is_id(value) else value


def oid_time(value: Any) -> float:
    """The creation second an ObjectId starts with (0.0 for other ids)."""
    if isinstance(value, ObjectId):
        return float(int.from_bytes(value.binary[:4], "big"))
    return 0.0


def seconds(value: Any) -> float | None:
    """A stored time as epoch seconds: ours are numbers; other tools may write dates."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, datetime.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
        return aware.timestamp()
    return None


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def as_str(value: Any) -> str:
    """A field as text; a missing one as the empty string."""
    return str(value) if value is not None else ""


def id_out(value: Any) -> str:
    return value.lower() if isinstance(value, str) and is_id(value) else as_str(value)


def parent_out(value: Any) -> ParentId:
    """The root as stored (0 or "0"); a parent id as its 24-hex text."""
    if value is None:
        return ROOT
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
        return ROOT  # int32, int64 or double zero: the Node driver writes any of them
    if isinstance(value, str):
        return value if value == "0" else value.lower() if is_id(value) else value
    return str(value)


def kind_of(type_: str) -> int:
    return 0 if type_ == "folder" else 1


def derived_keys(doc: dict[str, Any]) -> dict[str, Any]:
    """The derived fields of a file document (see the module doc), from its own fields."""
    return {
        "nameKey": name_key(as_str(doc.get("name"))),
        "kind": kind_of(as_str(doc.get("type"))),
        "sizeKey": as_int(doc.get("size")) or 0,
    }


def new_file_document(new: NewFile, oid: ObjectId, seq: int | None, now: float) -> dict[str, Any]:
    """The document of a new file: the original's fields, in its order, then ours.
    Folders have no localPath (as the original's), size 0 and no hash or type."""
    folder = new.type == "folder"
    doc: dict[str, Any] = {
        "_id": oid,
        "userId": stored_id(new.user_id),
        "name": new.name,
        "type": new.type,
        "isPublic": bool(new.is_public),
        "parentId": stored_parent(new.parent_id),
    }
    if not folder and new.local_path is not None:
        doc["localPath"] = new.local_path
    size = 0 if folder else new.size
    if size is not None:
        doc["size"] = size
    if not folder:
        for field, value in (("sha256", new.sha256), ("mimeType", new.mime_type)):
            if value is not None:
                doc[field] = value
    doc.update(createdAt=now, updatedAt=now, hasThumbnails=False, nameKey=name_key(new.name),
               kind=kind_of(new.type), sizeKey=size or 0)
    if seq is not None:
        doc["seq"] = seq
    return doc


def keyed(doc: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` (a $set) with every derived key of the changed document: a
    document of the original has none, and once it has a nameKey it is taken
    as keyed (a racing mongo_setup.fill_file_keys leaves it alone then)."""
    full = {**changes, **derived_keys({**doc, **changes})}
    if doc.get("createdAt") is None:
        full["createdAt"] = oid_time(doc["_id"])
    return full


def file_record(doc: dict[str, Any]) -> FileRecord:
    type_ = as_str(doc.get("type"))
    local_path = doc.get("localPath")
    created_at = seconds(doc.get("createdAt"))
    if created_at is None:
        created_at = oid_time(doc["_id"])
    updated_at = seconds(doc.get("updatedAt"))
    trash_id = doc.get("trashId")
    return FileRecord(
        id=str(doc["_id"]),
        user_id=id_out(doc.get("userId")),
        name=as_str(doc.get("name")),
        type=type_,
        is_public=doc.get("isPublic") is True,  # missing (or not a boolean) means private
        parent_id=parent_out(doc.get("parentId")),
        local_path=None if type_ == "folder" or local_path is None else str(local_path),
        size=as_int(doc.get("size")),
        sha256=as_text(doc.get("sha256")),
        mime_type=as_text(doc.get("mimeType")),
        created_at=created_at,
        updated_at=created_at if updated_at is None else updated_at,
        trashed_at=seconds(doc.get("trashedAt")),
        trash_id=None if trash_id is None else id_out(trash_id) if isinstance(trash_id, str) else str(trash_id),
        has_thumbnails=doc.get("hasThumbnails") is True,
    )


def user_record(doc: dict[str, Any] | None) -> User | None:
    if doc is None:
        return None
    created_at = seconds(doc.get("createdAt"))
    return User(
        id=str(doc["_id"]),
        email=as_str(doc.get("email")),
        password_hash=as_str(doc.get("password")),
        created_at=oid_time(doc["_id"]) if created_at is None else created_at,
        quota_bytes=as_int(doc.get("quotaBytes")),
        disabled=doc.get("disabled") is True,
    )
