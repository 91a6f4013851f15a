"""The Storage contract for v2 (base.py's docstrings), run on every backend.

Sizes, hashes and times; usage and quotas; keyset-paged lists and search;
moves; the trash (and what it hides from v1); purges; share links; tus
uploads. A refused write changes nothing, which every refusal here checks.
"""

from __future__ import annotations

import asyncio
import hashlib
import time

import pytest

from shared.errors import Invalid, NotFound, QuotaExceeded
from shared.storage import (
    PAGE_SIZE,
    ROOT,
    FileRecord,
    NewContent,
    NewFile,
    Order,
    ParentId,
    ShareLink,
    Storage,
    Upload,
    Usage,
    User,
    name_key,
    new_id,
    position_of,
)

MALFORMED_IDS = ["", "0", "abc", "g" * 24, "0" * 23, "0" * 25, " " + "a" * 23, "\udcff" * 24]
ORDERS = [Order(field, descending) for field in ("name", "updated_at", "size") for descending in (False, True)]


def sha(data: str) -> str:
    return hashlib.sha256(data.encode()).hexdigest()


async def make_user(storage: Storage, email: str = "alice@example.com") -> User:
    return await storage.create_user(email, f"hash-of-{email}")


def new_file(
    user: User,
    name: str = "f.txt",
    type_: str = "file",
    parent: ParentId = ROOT,
    size: int | None = 1,
    public: bool = False,
) -> NewFile:
    if type_ == "folder":
        return NewFile(user.id, name, "folder", public, parent, None)
    return NewFile(user.id, name, type_, public, parent, f"/tmp/files_manager/{new_id()}",
                   size=size, sha256=None if size is None else sha(name),
                   mime_type="image/png" if type_ == "image" else "text/plain")


async def make(storage: Storage, user: User, name: str = "f.txt", type_: str = "file",
               parent: ParentId = ROOT, size: int | None = 1, public: bool = False,
               quota: int | None = None) -> FileRecord:
    return await storage.create_file(new_file(user, name, type_, parent, size, public), quota)


async def folder(storage: Storage, user: User, name: str = "docs", parent: ParentId = ROOT) -> FileRecord:
    return await make(storage, user, name, "folder", parent)


async def fresh(storage: Storage, record: FileRecord) -> FileRecord:
    found = await storage.file_with_trashed(record.user_id, record.id)
    assert found is not None
    return found


async def used(storage: Storage, user: User) -> int:
    return (await storage.usage(user.id)).used_bytes


def sort_value(record: FileRecord, order: Order) -> str | float | int:
    if order.field == "name":
        return name_key(record.name)
    if order.field == "updated_at":
        return record.updated_at
    return record.size or 0


def expected_order(records: list[FileRecord], order: Order) -> list[str]:
    """Folders first in both directions; within each, by value then id, all reversed when descending."""
    def group(items: list[FileRecord]) -> list[str]:
        ranked = sorted(items, key=lambda r: (sort_value(r, order), r.id), reverse=order.descending)
        return [r.id for r in ranked]

    return (group([r for r in records if r.type == "folder"])
            + group([r for r in records if r.type != "folder"]))


async def all_pages(storage: Storage, user: User, order: Order, limit: int,
                    parent: ParentId = ROOT, text: str | None = None) -> list[str]:
    """Every page of a list (or a search when `text` is given), following positions."""
    ids: list[str] = []
    after = None
    for _ in range(1000):
        if text is None:
            page = await storage.list_files(user.id, parent, order, limit, after)
        else:
            page = await storage.search_files(user.id, text, order, limit, after)
        assert len(page) <= limit
        ids += [r.id for r in page]
        if len(page) < limit:
            return ids
        after = position_of(page[-1], order)
    raise AssertionError("paging never ended")


# ---------------------------------------------------------------- sizes, hashes, times, usage


async def test_create_file_stores_size_hash_mime_type_and_times(storage: Storage) -> None:
    user = await make_user(storage)
    before = time.time()
    docs = await folder(storage, user)
    text = await storage.create_file(
        NewFile(user.id, "a.txt", "file", True, docs.id, "/tmp/files_manager/a",
                size=5, sha256=sha("hello"), mime_type="text/plain"))
    after = time.time()

    assert (text.size, text.sha256, text.mime_type) == (5, sha("hello"), "text/plain")
    assert before - 1 <= text.created_at == text.updated_at <= after + 1
    assert (text.trashed_at, text.trash_id, text.has_thumbnails, text.is_trashed) == (None, None, False, False)
    assert (docs.size, docs.sha256, docs.mime_type) == (0, None, None)
    assert before - 1 <= docs.created_at == docs.updated_at <= after + 1
    for record in (docs, text):
        assert await storage.file_of_user(user.id, record.id) == record
        assert await storage.file_with_trashed(user.id, record.id) == record
    assert await storage.file_readable_by(None, text.id) == text

    # Unknown size (None) is kept as unknown and counts nothing.
    unknown = await storage.create_file(NewFile(user.id, "b.bin", "file", False, ROOT, "/tmp/files_manager/b"))
    assert (unknown.size, unknown.sha256, unknown.mime_type) == (None, None, None)
    assert (await fresh(storage, unknown)).size is None
    assert await storage.usage(user.id) == Usage(used_bytes=5, reserved_bytes=0, quota_bytes=None)


async def test_users_have_a_creation_time_and_a_quota(storage: Storage) -> None:
    before = time.time()
    user = await make_user(storage)
    assert before - 1 <= user.created_at <= time.time() + 1
    assert user.quota_bytes is None
    assert await storage.user_by_id(user.id) == user
    assert await storage.user_by_email(user.email) == user

    assert await storage.set_quota(user.id, 1000) is True
    assert (await storage.user_by_id(user.id)).quota_bytes == 1000
    assert (await storage.user_by_email(user.email)).quota_bytes == 1000
    assert (await storage.usage(user.id)).quota_bytes == 1000
    assert await storage.set_quota(user.id, None) is True
    assert (await storage.user_by_id(user.id)).quota_bytes is None
    assert (await storage.usage(user.id)).quota_bytes is None
    assert await storage.set_quota(new_id(), 5) is False
    for bad in MALFORMED_IDS:
        assert await storage.set_quota(bad, 5) is False


async def test_usage_counts_live_and_trashed_bytes_per_user(storage: Storage) -> None:
    alice = await make_user(storage)
    bob = await make_user(storage, "bob@example.com")
    assert (await storage.usage(alice.id)).used_bytes == 0
    docs = await folder(storage, alice)
    a = await make(storage, alice, "a", size=100, parent=docs.id)
    await make(storage, alice, "b", size=20)
    await make(storage, bob, "c", size=7)
    assert await used(storage, alice) == 120 and await used(storage, bob) == 7
    await storage.trash_file(alice.id, docs.id, now=1000.0)
    assert await used(storage, alice) == 120  # trashed bytes still count
    await storage.delete_file(alice.id, a.id)  # undoing a create gives its bytes back
    assert await used(storage, alice) == 20 and await used(storage, bob) == 7


async def test_quota_refuses_create_file_and_changes_nothing(storage: Storage) -> None:
    user = await make_user(storage)
    await make(storage, user, "a", size=6, quota=10)
    files = await storage.count_files()
    with pytest.raises(QuotaExceeded):
        await make(storage, user, "b", size=5, quota=10)
    assert await storage.count_files() == files
    assert await used(storage, user) == 6
    assert [r.name for r in await storage.list_files(user.id, ROOT, Order(), 100, None)] == ["a"]
    reached = await make(storage, user, "c", size=4, quota=10)  # reaching the quota is allowed
    assert await used(storage, user) == 10
    await make(storage, user, "d", size=10**12, quota=None)  # None: unlimited
    assert await used(storage, user) == 10 + 10**12
    assert (await fresh(storage, reached)).size == 4


async def test_create_file_refuses_a_parent_that_is_not_a_live_folder_of_the_user(storage: Storage) -> None:
    alice = await make_user(storage)
    bob = await make_user(storage, "bob@example.com")
    bobs = await folder(storage, bob)
    a_file = await make(storage, alice, "f.txt")
    trashed = await folder(storage, alice, "old")
    await storage.trash_file(alice.id, trashed.id, now=1000.0)
    files = await storage.count_files()

    for parent in (new_id(), bobs.id, trashed.id):
        with pytest.raises(Invalid) as refused:
            await make(storage, alice, "x", parent=parent, size=3)
        assert refused.value.message == "Parent not found"
    with pytest.raises(Invalid) as refused:
        await make(storage, alice, "x", parent=a_file.id, size=3)
    assert refused.value.message == "Parent is not a folder"
    assert await storage.count_files() == files
    assert await used(storage, alice) == 1


# ---------------------------------------------------------------- lists and search


async def _mixed_folder(storage: Storage, user: User, parent: ParentId = ROOT) -> list[FileRecord]:
    """Folders and files with ties on every sort key, case differences, unknown sizes."""
    made: list[FileRecord] = []
    specs = [("Beta", "folder", None), ("alpha", "folder", None), ("beta", "folder", None),
             ("b.txt", "file", 30), ("B.txt", "file", 30), ("a.png", "image", 10),
             ("Zed", "file", None), ("zed", "file", 0), ("ä.txt", "file", 10), ("c", "file", 99),
             ("C", "file", 30), ("same", "file", 5), ("same", "file", 5), ("same", "file", 5)]
    for n, (name, type_, size) in enumerate(specs):
        record = await make(storage, user, name, type_, parent, size)
        # updated_at with ties (three values) but unlike creation order
        made.append(await storage.update_file(user.id, record.id, is_public=False, now=1000.0 + (n * 7) % 3))
    return made


async def test_list_files_in_every_order(storage: Storage) -> None:
    user = await make_user(storage)
    other = await make_user(storage, "other@example.com")
    made = await _mixed_folder(storage, user)
    await make(storage, other, "a-noise.txt")  # another user's, same root
    gone = await make(storage, user, "aaa-trashed")
    await storage.trash_file(user.id, gone.id, now=2000.0)
    for order in ORDERS:
        listed = await storage.list_files(user.id, ROOT, order, 1000, None)
        assert [r.id for r in listed] == expected_order(made, order), order
        assert listed == [await fresh(storage, r) for r in listed]
    # folders first in both directions
    for descending in (False, True):
        listed = await storage.list_files(user.id, ROOT, Order("name", descending), 1000, None)
        assert [r.type for r in listed[:3]] == ["folder"] * 3


async def test_list_files_pages_give_every_item_exactly_once(storage: Storage) -> None:
    user = await make_user(storage)
    docs = await folder(storage, user, "docs")
    made = await _mixed_folder(storage, user, docs.id)
    await make(storage, user, "elsewhere")  # at the root, not in docs
    for order in ORDERS:
        whole = expected_order(made, order)
        for limit in (1, 2, 3, 5, 13, 14, 100):
            assert await all_pages(storage, user, order, limit, docs.id) == whole, (order, limit)
    # The root given as "0" is the root; an unknown or another user's folder lists nothing.
    assert [r.id for r in await storage.list_files(user.id, "0", Order(), 10, None)] == \
        [r.id for r in await storage.list_files(user.id, ROOT, Order(), 10, None)]
    other = await make_user(storage, "other@example.com")
    assert await storage.list_files(other.id, docs.id, Order(), 10, None) == []
    assert await storage.list_files(user.id, new_id(), Order(), 10, None) == []
    for bad in MALFORMED_IDS:
        assert await storage.list_files(bad, ROOT, Order(), 10, None) == []
        if bad != "0":
            assert await storage.list_files(user.id, bad, Order(), 10, None) == []


async def test_list_files_of_a_trashed_folder_is_empty(storage: Storage) -> None:
    user = await make_user(storage)
    docs = await folder(storage, user)
    await make(storage, user, "in", parent=docs.id)
    await storage.trash_file(user.id, docs.id, now=1000.0)
    assert await storage.list_files(user.id, docs.id, Order(), 10, None) == []


async def test_search_is_case_insensitive_contains_across_folders_live_only(storage: Storage) -> None:
    alice = await make_user(storage)
    bob = await make_user(storage, "bob@example.com")
    docs = await folder(storage, alice, "Reports")
    deep = await folder(storage, alice, "2024 report", docs.id)
    hits = [docs, deep,
            await make(storage, alice, "REPORT.pdf", parent=deep.id, size=9),
            await make(storage, alice, "my-report.txt", size=3),
            await make(storage, alice, "Ärger-Report", parent=docs.id, size=None)]
    await make(storage, alice, "rep.txt")
    await make(storage, bob, "report-of-bob")
    binned = await make(storage, alice, "old report")
    await storage.trash_file(alice.id, binned.id, now=1000.0)
    below = await folder(storage, alice, "binned reports")
    await make(storage, alice, "report inside", parent=below.id)
    await storage.trash_file(alice.id, below.id, now=1000.0)

    for text in ("report", "REPORT", "RePoRt"):
        for order in ORDERS:
            found = await storage.search_files(alice.id, text, order, 100, None)
            assert [r.id for r in found] == expected_order(hits, order), (text, order)
            for limit in (1, 2, 4):
                assert await all_pages(storage, alice, order, limit, text=text) == expected_order(hits, order)
    assert [r.id for r in await storage.search_files(alice.id, "ärger", Order(), 10, None)] == [hits[4].id]
    assert await storage.search_files(alice.id, "nothing like it", Order(), 10, None) == []
    assert [r.name for r in await storage.search_files(bob.id, "report", Order(), 10, None)] == ["report-of-bob"]
    for bad in MALFORMED_IDS:
        assert await storage.search_files(bad, "report", Order(), 10, None) == []


async def test_search_text_is_literal(storage: Storage) -> None:
    """Wildcards of LIKE and regular expressions mean themselves."""
    user = await make_user(storage)
    names = ["100%_done", "100 done", "a.b", "axb", "(x)*", "x", "back\\slash", "dollar$", "^caret"]
    made = {name: await make(storage, user, name) for name in names}
    for text, want in [("%", ["100%_done"]), ("_", ["100%_done"]), ("%_", ["100%_done"]),
                       (".", ["a.b"]), ("(x)*", ["(x)*"]), ("*", ["(x)*"]), ("\\", ["back\\slash"]),
                       ("$", ["dollar$"]), ("^", ["^caret"]), ("x", ["(x)*", "axb", "x"])]:
        found = await storage.search_files(user.id, text, Order(), 100, None)
        assert [r.id for r in found] == expected_order([made[n] for n in want], Order()), text
    assert await storage.search_files(user.id, "\udcff", Order(), 10, None) == []


async def test_ancestors(storage: Storage) -> None:
    alice = await make_user(storage)
    bob = await make_user(storage, "bob@example.com")
    a = await folder(storage, alice, "a")
    b = await folder(storage, alice, "b", a.id)
    c = await folder(storage, alice, "c", b.id)
    leaf = await make(storage, alice, "leaf", parent=c.id)
    at_root = await make(storage, alice, "top")
    assert [r.id for r in await storage.ancestors(alice.id, leaf.id)] == [a.id, b.id, c.id]
    assert await storage.ancestors(alice.id, leaf.id) == [a, b, c]
    assert [r.id for r in await storage.ancestors(alice.id, c.id)] == [a.id, b.id]
    assert await storage.ancestors(alice.id, a.id) == []
    assert await storage.ancestors(alice.id, at_root.id) == []
    assert await storage.ancestors(bob.id, leaf.id) == []
    assert await storage.ancestors(alice.id, new_id()) == []
    for bad in MALFORMED_IDS:
        assert await storage.ancestors(alice.id, bad) == []
        assert await storage.ancestors(bad, leaf.id) == []


# ---------------------------------------------------------------- update_file


async def test_update_file_renames_moves_and_publishes(storage: Storage) -> None:
    user = await make_user(storage)
    docs = await folder(storage, user, "docs")
    record = await make(storage, user, "old.txt", size=4)

    renamed = await storage.update_file(user.id, record.id, name="New.txt", now=5000.0)
    assert (renamed.name, renamed.updated_at, renamed.created_at) == ("New.txt", 5000.0, record.created_at)
    assert renamed == await fresh(storage, record)
    assert [r.id for r in await storage.search_files(user.id, "new", Order(), 10, None)] == [record.id]
    assert await storage.search_files(user.id, "old", Order(), 10, None) == []

    moved = await storage.update_file(user.id, record.id, parent_id=docs.id, is_public=True, now=6000.0)
    assert (moved.parent_id, moved.is_public, moved.name, moved.updated_at) == (docs.id, True, "New.txt", 6000.0)
    assert [r.id for r in await storage.list_files(user.id, docs.id, Order(), 10, None)] == [record.id]
    assert [r.id for r in await storage.list_files(user.id, ROOT, Order(), 10, None)] == [docs.id]
    assert await storage.file_readable_by(None, record.id) == moved
    assert await storage.ancestors(user.id, record.id) == [await fresh(storage, docs)]

    back = await storage.update_file(user.id, record.id, parent_id=ROOT, is_public=False, now=7000.0)
    assert (back.parent_id, back.is_public) == (ROOT, False) and type(back.parent_id) is int
    assert await storage.file_readable_by(None, record.id) is None
    unchanged = await storage.update_file(user.id, record.id, now=8000.0)
    assert (unchanged.name, unchanged.parent_id, unchanged.updated_at) == ("New.txt", ROOT, 8000.0)
    assert await used(storage, user) == 4


async def test_update_file_refuses_bad_targets_and_changes_nothing(storage: Storage) -> None:
    alice = await make_user(storage)
    bob = await make_user(storage, "bob@example.com")
    a = await folder(storage, alice, "a")
    b = await folder(storage, alice, "b", a.id)
    c = await folder(storage, alice, "c", b.id)
    a_file = await make(storage, alice, "f", parent=b.id)
    bobs = await folder(storage, bob, "bobs")
    binned = await folder(storage, alice, "binned")
    await storage.trash_file(alice.id, binned.id, now=1000.0)
    before = {r.id: await fresh(storage, r) for r in (a, b, c, a_file)}

    for target in (a.id, b.id, c.id):
        with pytest.raises(Invalid) as refused:
            await storage.update_file(alice.id, a.id, parent_id=target, now=2000.0)
        assert refused.value.message == "Cannot move a folder into itself"
    with pytest.raises(Invalid) as refused:
        await storage.update_file(alice.id, b.id, parent_id=c.id, name="renamed", now=2000.0)
    assert refused.value.message == "Cannot move a folder into itself"
    for target in (new_id(), bobs.id, binned.id):
        with pytest.raises(Invalid) as refused:
            await storage.update_file(alice.id, c.id, parent_id=target, name="x", now=2000.0)
        assert refused.value.message == "Parent not found"
    with pytest.raises(Invalid) as refused:
        await storage.update_file(alice.id, c.id, parent_id=a_file.id, now=2000.0)
    assert refused.value.message == "Parent is not a folder"
    # Not a live item of the user: NotFound
    for user_id, file_id in [(bob.id, a.id), (alice.id, binned.id), (alice.id, new_id()),
                             *[(alice.id, bad) for bad in MALFORMED_IDS], *[(bad, a.id) for bad in MALFORMED_IDS]]:
        with pytest.raises(NotFound):
            await storage.update_file(user_id, file_id, name="x", now=2000.0)
    assert {r.id: await fresh(storage, r) for r in (a, b, c, a_file)} == before
    # Moving a folder up or sideways is fine.
    moved = await storage.update_file(alice.id, c.id, parent_id=a.id, now=3000.0)
    assert moved.parent_id == a.id
    assert [r.id for r in await storage.ancestors(alice.id, c.id)] == [a.id]


async def test_a_moved_file_goes_to_the_end_of_its_new_folders_v1_order(storage: Storage) -> None:
    user = await make_user(storage)
    docs = await folder(storage, user, "docs")
    inside = [await make(storage, user, f"in{n}", parent=docs.id) for n in range(3)]
    at_root = [await make(storage, user, f"r{n}") for n in range(PAGE_SIZE + 2)]
    await storage.update_file(user.id, at_root[1].id, parent_id=docs.id, now=1.0)
    assert [r.id for r in await storage.children(user.id, docs.id, 0)] == [*[r.id for r in inside], at_root[1].id]
    root_ids = [r.id for p in range(3) for r in await storage.children(user.id, ROOT, p)]
    assert root_ids == [docs.id, *[r.id for r in at_root if r.id != at_root[1].id]]  # still dense
    assert [len(await storage.children(user.id, ROOT, p)) for p in range(3)] == [PAGE_SIZE, 2, 0]


# ---------------------------------------------------------------- trash


async def test_trashing_a_folder_hides_everything_below_it(storage: Storage) -> None:
    alice = await make_user(storage)
    top = await folder(storage, alice, "top")
    sub = await folder(storage, alice, "sub", top.id)
    deep = await make(storage, alice, "deep.txt", parent=sub.id, public=True, size=8)
    near = await make(storage, alice, "near.txt", parent=top.id, public=True, size=2)
    keep = await make(storage, alice, "keep.txt", public=True)

    trashed = await storage.trash_file(alice.id, top.id, now=1234.5)
    assert (trashed.id, trashed.trashed_at, trashed.trash_id, trashed.is_trashed) == (top.id, 1234.5, top.id, True)
    for record in (top, sub, deep, near):
        assert await storage.file_of_user(alice.id, record.id) is None
        assert await storage.file_readable_by(alice.id, record.id) is None
        assert await storage.file_readable_by(None, record.id) is None
        seen = await storage.file_with_trashed(alice.id, record.id)
        assert (seen.trashed_at, seen.trash_id, seen.parent_id) == (1234.5, top.id, record.parent_id)
    for parent in (top.id, sub.id):
        assert await storage.children(alice.id, parent, 0) == []
        assert await storage.list_files(alice.id, parent, Order(), 10, None) == []
    assert await storage.children(alice.id, ROOT, 0) == [keep]
    assert await storage.list_files(alice.id, ROOT, Order(), 10, None) == [keep]
    assert await storage.search_files(alice.id, ".txt", Order(), 10, None) == [keep]
    assert [r.id for r in await storage.trashed_files(alice.id, 10, None)] == [top.id]
    assert await storage.file_readable_by(None, keep.id) == keep
    assert await used(storage, alice) == 11

    for user_id, file_id in [(alice.id, top.id), (alice.id, deep.id), (alice.id, new_id()),
                             *[(alice.id, bad) for bad in MALFORMED_IDS]]:
        with pytest.raises(NotFound):
            await storage.trash_file(user_id, file_id, now=2000.0)
    bob = await make_user(storage, "bob@example.com")
    with pytest.raises(NotFound):
        await storage.trash_file(bob.id, keep.id, now=2000.0)
    assert await storage.file_of_user(alice.id, keep.id) == keep


async def test_v1_children_stay_dense_when_an_item_in_the_middle_is_trashed(storage: Storage) -> None:
    user = await make_user(storage)
    made = [await make(storage, user, f"f{n}") for n in range(2 * PAGE_SIZE + 5)]
    await storage.trash_file(user.id, made[10].id, now=1.0)
    await storage.trash_file(user.id, made[30].id, now=2.0)
    pages = [await storage.children(user.id, ROOT, p) for p in range(4)]
    assert [len(p) for p in pages] == [PAGE_SIZE, PAGE_SIZE, 3, 0]
    live = [r.id for n, r in enumerate(made) if n not in (10, 30)]
    assert [r.id for p in pages for r in p] == live
    # Restored, an item comes back at the end of the v1 order.
    await storage.restore_file(user.id, made[10].id, now=3.0)
    pages = [await storage.children(user.id, ROOT, p) for p in range(4)]
    assert [r.id for p in pages for r in p] == [*live, made[10].id]
    assert [len(p) for p in pages] == [PAGE_SIZE, PAGE_SIZE, 4, 0]


async def test_restore_brings_back_a_deletion_where_it_was_or_to_the_root(storage: Storage) -> None:
    alice = await make_user(storage)
    docs = await folder(storage, alice, "docs")
    sub = await folder(storage, alice, "sub", docs.id)
    inner = await make(storage, alice, "inner", parent=sub.id)
    loner = await make(storage, alice, "loner", parent=sub.id)
    await storage.trash_file(alice.id, loner.id, now=100.0)  # its own deletion, first
    await storage.trash_file(alice.id, sub.id, now=200.0)

    # Not the top of a deletion, live, another user's, unknown: NotFound
    bob = await make_user(storage, "bob@example.com")
    for user_id, file_id in [(alice.id, inner.id), (alice.id, docs.id), (bob.id, sub.id),
                             (alice.id, new_id()), *[(alice.id, bad) for bad in MALFORMED_IDS]]:
        with pytest.raises(NotFound):
            await storage.restore_file(user_id, file_id, now=300.0)

    restored = await storage.restore_file(alice.id, sub.id, now=300.0)
    assert (restored.parent_id, restored.trashed_at, restored.trash_id) == (docs.id, None, None)
    assert restored == await storage.file_of_user(alice.id, sub.id)
    assert await storage.file_of_user(alice.id, inner.id) is not None
    assert await storage.file_of_user(alice.id, loner.id) is None  # trashed on its own: stays
    assert [r.id for r in await storage.children(alice.id, sub.id, 0)] == [inner.id]
    assert [r.id for r in await storage.trashed_files(alice.id, 10, None)] == [loner.id]

    # Its parent trashed meanwhile: to the root.
    await storage.trash_file(alice.id, sub.id, now=400.0)
    await storage.restore_file(alice.id, loner.id, now=450.0)
    back = await storage.file_of_user(alice.id, loner.id)
    assert back is not None and back.parent_id == ROOT and type(back.parent_id) is int
    assert loner.id in [r.id for r in await storage.children(alice.id, ROOT, 0)]

    # Its parent purged meanwhile: to the root.
    await storage.trash_file(alice.id, docs.id, now=500.0)
    await storage.restore_file(alice.id, sub.id, now=600.0)  # docs is trashed: sub to the root
    assert (await storage.file_of_user(alice.id, sub.id)).parent_id == ROOT
    again = await make(storage, alice, "again", parent=sub.id)
    await storage.trash_file(alice.id, again.id, now=700.0)
    await storage.purge_file(alice.id, sub.id)
    with pytest.raises(NotFound):
        await storage.restore_file(alice.id, again.id, now=800.0)  # purged with sub


async def test_trashed_files_newest_first_with_paging(storage: Storage) -> None:
    alice = await make_user(storage)
    bob = await make_user(storage, "bob@example.com")
    items = [await make(storage, alice, f"t{n}") for n in range(7)]
    times = [300.0, 100.0, 300.0, 200.0, 300.0, 50.0, 200.0]
    for item, when in zip(items, times, strict=True):
        await storage.trash_file(alice.id, item.id, now=when)
    await storage.trash_file(bob.id, (await make(storage, bob, "b")).id, now=999.0)
    box = await folder(storage, alice, "box")
    await make(storage, alice, "in-box", parent=box.id)
    await storage.trash_file(alice.id, box.id, now=150.0)  # its content is not a top

    tops = [*items, box]
    when = {r.id: t for r, t in zip(tops, [*times, 150.0], strict=True)}
    want = sorted(when, key=lambda i: (when[i], i), reverse=True)
    listed = await storage.trashed_files(alice.id, 100, None)
    assert [r.id for r in listed] == want
    assert all(r.trash_id == r.id for r in listed)
    for limit in (1, 2, 3, 8):
        ids, after = [], None
        while True:
            page = await storage.trashed_files(alice.id, limit, after)
            ids += [r.id for r in page]
            if len(page) < limit:
                break
            after = (page[-1].trashed_at, page[-1].id)
        assert ids == want, limit
    for bad in MALFORMED_IDS:
        assert await storage.trashed_files(bad, 10, None) == []


# ---------------------------------------------------------------- purges


async def _link(storage: Storage, user: User, file: FileRecord, created_at: float | None = None,
                password_hash: str | None = None, max_downloads: int | None = None) -> ShareLink:
    now = time.time() if created_at is None else created_at
    link = ShareLink(id=new_id(), user_id=user.id, file_id=file.id, token_hash=sha(new_id()), created_at=now,
                     expires_at=now + 3600, password_hash=password_hash, max_downloads=max_downloads)
    assert await storage.create_link(link) == link
    return link


async def test_purge_file_deletes_the_tree_with_its_links_and_bytes(storage: Storage) -> None:
    alice = await make_user(storage)
    top = await folder(storage, alice, "top")
    sub = await folder(storage, alice, "sub", top.id)
    deep = await make(storage, alice, "deep", parent=sub.id, size=8)
    near = await make(storage, alice, "near", parent=top.id, size=2)
    keep = await make(storage, alice, "keep", size=1)
    binned_below = await make(storage, alice, "binned-below", parent=sub.id, size=4)
    await storage.trash_file(alice.id, binned_below.id, now=100.0)  # trashed on its own, still below
    links = [await _link(storage, alice, f) for f in (top, deep, keep)]
    assert await used(storage, alice) == 15

    bob = await make_user(storage, "bob@example.com")
    for user_id, file_id in [(bob.id, top.id), (alice.id, new_id()), *[(alice.id, bad) for bad in MALFORMED_IDS]]:
        with pytest.raises(NotFound):
            await storage.purge_file(user_id, file_id)
    assert await used(storage, alice) == 15

    paths = await storage.purge_file(alice.id, top.id)  # live: purged straight away
    assert sorted(paths) == sorted([deep.local_path, near.local_path, binned_below.local_path])
    for record in (top, sub, deep, near, binned_below):
        assert await storage.file_with_trashed(alice.id, record.id) is None
    assert await storage.file_of_user(alice.id, keep.id) == keep
    assert await used(storage, alice) == 1
    for link in links[:2]:
        assert await storage.link_of_user(alice.id, link.id) is None
        assert await storage.link_by_token_hash(link.token_hash) is None
    assert await storage.link_of_user(alice.id, links[2].id) == links[2]
    assert await storage.children(alice.id, ROOT, 0) == [keep]  # v1 order dense
    assert await storage.trashed_files(alice.id, 10, None) == []
    with pytest.raises(NotFound):
        await storage.purge_file(alice.id, top.id)

    await storage.trash_file(alice.id, keep.id, now=200.0)
    assert await storage.purge_file(alice.id, keep.id) == [keep.local_path]  # trashed: purged too
    assert await used(storage, alice) == 0 and await storage.count_files() == 0


async def test_purge_trash_empties_only_the_users_trash(storage: Storage) -> None:
    alice = await make_user(storage)
    bob = await make_user(storage, "bob@example.com")
    box = await folder(storage, alice, "box")
    in_box = await make(storage, alice, "in-box", parent=box.id, size=3)
    loose = await make(storage, alice, "loose", size=5)
    keep = await make(storage, alice, "keep", size=7)
    bobs = await make(storage, bob, "bobs", size=11)
    await storage.trash_file(alice.id, box.id, now=1.0)
    await storage.trash_file(alice.id, loose.id, now=2.0)
    await storage.trash_file(bob.id, bobs.id, now=3.0)
    link = await _link(storage, alice, loose)

    paths = await storage.purge_trash(alice.id)
    assert sorted(paths) == sorted([in_box.local_path, loose.local_path])
    assert await storage.trashed_files(alice.id, 10, None) == []
    assert await storage.link_of_user(alice.id, link.id) is None
    assert await used(storage, alice) == 7
    assert await storage.file_of_user(alice.id, keep.id) == keep
    assert [r.id for r in await storage.trashed_files(bob.id, 10, None)] == [bobs.id]
    assert await used(storage, bob) == 11
    assert await storage.purge_trash(alice.id) == []
    for bad in MALFORMED_IDS:
        assert await storage.purge_trash(bad) == []


async def test_trashed_before_finds_old_tops_of_every_user(storage: Storage) -> None:
    alice = await make_user(storage)
    bob = await make_user(storage, "bob@example.com")
    old_a = await folder(storage, alice, "old-a")
    await make(storage, alice, "inside", parent=old_a.id)
    old_b = await make(storage, bob, "old-b")
    new_a = await make(storage, alice, "new-a")
    await storage.trash_file(alice.id, old_a.id, now=100.0)
    await storage.trash_file(bob.id, old_b.id, now=200.0)
    await storage.trash_file(alice.id, new_a.id, now=900.0)
    await make(storage, alice, "live")

    assert sorted(r.id for r in await storage.trashed_before(500.0, 10)) == sorted([old_a.id, old_b.id])
    assert len(await storage.trashed_before(500.0, 1)) == 1
    assert await storage.trashed_before(100.0, 10) == []
    assert len(await storage.trashed_before(1000.0, 10)) == 3


# ---------------------------------------------------------------- replace_content, thumbnails


async def test_replace_content_moves_the_bytes_and_returns_the_old_blob(storage: Storage) -> None:
    user = await make_user(storage)
    record = await make(storage, user, "pic", "image", size=10)
    await storage.set_thumbnails(record.id, record.local_path)
    assert (await fresh(storage, record)).has_thumbnails is True
    content = NewContent("/tmp/files_manager/new", 25, sha("new"), "text/plain", "file")

    replaced, old_path = await storage.replace_content(user.id, record.id, content, None, now=5000.0)
    assert old_path == record.local_path
    assert (replaced.local_path, replaced.size, replaced.sha256, replaced.mime_type, replaced.type) == \
        ("/tmp/files_manager/new", 25, sha("new"), "text/plain", "file")
    assert (replaced.has_thumbnails, replaced.updated_at, replaced.created_at) == (False, 5000.0, record.created_at)
    assert replaced == await storage.file_of_user(user.id, record.id)
    assert await used(storage, user) == 25

    bigger = NewContent("/tmp/files_manager/big", 100, sha("big"), "text/plain", "file")
    with pytest.raises(QuotaExceeded):
        await storage.replace_content(user.id, record.id, bigger, 99, now=6000.0)
    assert await storage.file_of_user(user.id, record.id) == replaced and await used(storage, user) == 25
    smaller = NewContent("/tmp/files_manager/small", 5, sha("small"), "image/png", "image")
    done, old_path = await storage.replace_content(user.id, record.id, smaller, 30, now=7000.0)
    assert (old_path, done.size, done.type, await used(storage, user)) == ("/tmp/files_manager/new", 5, "image", 5)

    # set_thumbnails only for the content it was made from
    await storage.set_thumbnails(record.id, "/tmp/files_manager/new")
    assert (await fresh(storage, record)).has_thumbnails is False
    await storage.set_thumbnails(record.id, "/tmp/files_manager/small")
    assert (await fresh(storage, record)).has_thumbnails is True

    docs = await folder(storage, user)
    with pytest.raises(Invalid):
        await storage.replace_content(user.id, docs.id, content, None, now=1.0)
    bob = await make_user(storage, "bob@example.com")
    with pytest.raises(NotFound):
        await storage.replace_content(bob.id, record.id, content, None, now=1.0)
    await storage.trash_file(user.id, record.id, now=8000.0)
    with pytest.raises(NotFound):
        await storage.replace_content(user.id, record.id, content, None, now=1.0)
    assert await used(storage, user) == 5


# ---------------------------------------------------------------- share links


async def test_share_links(storage: Storage) -> None:
    alice = await make_user(storage)
    bob = await make_user(storage, "bob@example.com")
    record = await make(storage, alice, "shared")
    first = await _link(storage, alice, record, created_at=100.0)
    second = await _link(storage, alice, record, created_at=200.0, password_hash="$argon2id$x", max_downloads=3)
    other = await _link(storage, alice, await make(storage, alice, "other"))
    assert (second.password_hash, second.max_downloads, second.downloads, second.revoked_at) == \
        ("$argon2id$x", 3, 0, None)

    assert await storage.links_of_file(alice.id, record.id) == [second, first]
    assert await storage.links_of_file(bob.id, record.id) == []
    assert await storage.link_of_user(alice.id, first.id) == first
    assert await storage.link_of_user(bob.id, first.id) is None
    assert await storage.link_by_token_hash(second.token_hash) == second
    assert await storage.link_by_token_hash(sha("unknown")) is None

    assert await storage.revoke_link(bob.id, first.id, now=300.0) is False
    assert (await storage.link_of_user(alice.id, first.id)).revoked_at is None
    assert await storage.revoke_link(alice.id, first.id, now=300.0) is True
    revoked = await storage.link_by_token_hash(first.token_hash)
    assert revoked is not None and revoked.revoked_at == 300.0  # kept, so /s/ can say 410
    assert [link.id for link in await storage.links_of_file(alice.id, record.id)] == [second.id, first.id]
    assert await storage.link_of_user(alice.id, other.id) == other
    assert await storage.revoke_link(alice.id, new_id(), now=300.0) is False
    for bad in MALFORMED_IDS:
        assert await storage.link_of_user(alice.id, bad) is None
        assert await storage.revoke_link(alice.id, bad, now=1.0) is False
        assert await storage.links_of_file(alice.id, bad) == []
        assert await storage.count_download(bad) is False


async def test_count_download_stops_at_max_downloads(storage: Storage) -> None:
    user = await make_user(storage)
    record = await make(storage, user)
    limited = await _link(storage, user, record, max_downloads=2)
    unlimited = await _link(storage, user, record)
    assert [await storage.count_download(limited.id) for _ in range(4)] == [True, True, False, False]
    assert (await storage.link_of_user(user.id, limited.id)).downloads == 2
    assert all([await storage.count_download(unlimited.id) for _ in range(5)])
    assert (await storage.link_of_user(user.id, unlimited.id)).downloads == 5
    assert await storage.count_download(new_id()) is False


async def test_concurrent_downloads_never_pass_max_downloads(storage: Storage) -> None:
    user = await make_user(storage)
    link = await _link(storage, user, await make(storage, user), max_downloads=5)
    results = await asyncio.gather(*(storage.count_download(link.id) for _ in range(30)))
    assert results.count(True) == 5
    assert (await storage.link_of_user(user.id, link.id)).downloads == 5


# ---------------------------------------------------------------- tus uploads


def _upload(user: User, length: int, parent: ParentId = ROOT, name: str = "up.bin",
            expires_at: float | None = None) -> Upload:
    now = time.time()
    return Upload(id=new_id(), user_id=user.id, length=length, offset=0, name=name, parent_id=parent,
                  is_public=False, part_path=f"/tmp/files_manager/{new_id()}.part", created_at=now,
                  expires_at=now + 86400 if expires_at is None else expires_at)


def _finished(upload: Upload) -> NewFile:
    return NewFile(upload.user_id, upload.name, "file", upload.is_public, upload.parent_id,
                   f"/tmp/files_manager/{new_id()}", size=upload.length, sha256=sha(upload.id),
                   mime_type="application/octet-stream")


async def test_uploads_reserve_their_length_in_the_quota(storage: Storage) -> None:
    user = await make_user(storage)
    await make(storage, user, "a", size=30)
    upload = await storage.create_upload(_upload(user, 50), 100)
    assert upload.offset == 0 and upload.file_id is None
    assert await storage.upload_of_user(user.id, upload.id) == upload
    usage = await storage.usage(user.id)
    assert (usage.used_bytes, usage.reserved_bytes) == (30, 50)

    with pytest.raises(QuotaExceeded):
        await storage.create_upload(_upload(user, 21), 100)
    with pytest.raises(QuotaExceeded):
        await make(storage, user, "b", size=21, quota=100)
    assert await storage.count_files() == 1
    usage = await storage.usage(user.id)
    assert (usage.used_bytes, usage.reserved_bytes) == (30, 50)
    fits = await storage.create_upload(_upload(user, 20), 100)  # exactly the quota
    assert (await storage.usage(user.id)).reserved_bytes == 70
    assert await storage.delete_upload(user.id, fits.id) == fits
    assert (await storage.usage(user.id)).reserved_bytes == 50

    # Finishing turns the reservation into used bytes, without a second quota check.
    record = await storage.finish_upload(upload.id, _finished(upload), now=time.time())
    assert (record.name, record.size, record.parent_id) == ("up.bin", 50, ROOT)
    usage = await storage.usage(user.id)
    assert (usage.used_bytes, usage.reserved_bytes) == (80, 0)


async def test_upload_offset_is_compare_and_set(storage: Storage) -> None:
    user = await make_user(storage)
    upload = await storage.create_upload(_upload(user, 100), None)
    assert await storage.set_upload_offset(upload.id, 0, 10) is True
    assert await storage.set_upload_offset(upload.id, 0, 20) is False
    assert (await storage.upload_of_user(user.id, upload.id)).offset == 10
    assert await storage.set_upload_offset(upload.id, 10, 100) is True
    assert (await storage.upload_of_user(user.id, upload.id)).offset == 100
    assert await storage.set_upload_offset(new_id(), 0, 1) is False
    for bad in MALFORMED_IDS:
        assert await storage.set_upload_offset(bad, 0, 1) is False
    racing = await storage.create_upload(_upload(user, 100), None)
    results = await asyncio.gather(*(storage.set_upload_offset(racing.id, 0, n) for n in range(1, 11)))
    assert results.count(True) == 1
    assert (await storage.upload_of_user(user.id, racing.id)).offset == results.index(True) + 1


async def test_finish_upload_creates_the_file_once(storage: Storage) -> None:
    user = await make_user(storage)
    docs = await folder(storage, user)
    upload = await storage.create_upload(_upload(user, 40, parent=docs.id, name="movie.mkv"), None)
    new = _finished(upload)
    first = await storage.finish_upload(upload.id, new, now=1000.0)
    assert (first.name, first.parent_id, first.size, first.sha256, first.local_path) == \
        ("movie.mkv", docs.id, 40, new.sha256, new.local_path)
    assert (await storage.upload_of_user(user.id, upload.id)).file_id == first.id
    again = await storage.finish_upload(upload.id, _finished(upload), now=2000.0)
    assert again == first
    assert [r.id for r in await storage.list_files(user.id, docs.id, Order(), 10, None)] == [first.id]
    assert await used(storage, user) == 40

    racing = await storage.create_upload(_upload(user, 7), None)
    results = await asyncio.gather(*(storage.finish_upload(racing.id, _finished(racing), now=3000.0)
                                     for _ in range(5)))
    assert len({r.id for r in results}) == 1
    assert await used(storage, user) == 47 and await storage.count_files() == 3

    with pytest.raises(NotFound):
        await storage.finish_upload(new_id(), new, now=1.0)


async def test_finish_upload_goes_to_the_root_when_its_parent_is_gone(storage: Storage) -> None:
    user = await make_user(storage)
    binned = await folder(storage, user, "binned")
    purged = await folder(storage, user, "purged")
    into_binned = await storage.create_upload(_upload(user, 1, parent=binned.id), None)
    into_purged = await storage.create_upload(_upload(user, 1, parent=purged.id), None)
    await storage.trash_file(user.id, binned.id, now=1.0)
    await storage.purge_file(user.id, purged.id)
    for upload in (into_binned, into_purged):
        record = await storage.finish_upload(upload.id, _finished(upload), now=2.0)
        assert record.parent_id == ROOT and type(record.parent_id) is int
        assert await storage.file_of_user(user.id, record.id) == record


async def test_delete_upload_and_expired_uploads(storage: Storage) -> None:
    alice = await make_user(storage)
    bob = await make_user(storage, "bob@example.com")
    old = await storage.create_upload(_upload(alice, 5, expires_at=100.0), None)
    older = await storage.create_upload(_upload(bob, 5, expires_at=50.0), None)
    done = await storage.create_upload(_upload(alice, 5, expires_at=150.0), None)
    await storage.finish_upload(done.id, _finished(done), now=10.0)
    fresh_upload = await storage.create_upload(_upload(alice, 5, expires_at=10**10), None)

    expired = await storage.expired_uploads(200.0, 10)
    assert sorted(u.id for u in expired) == sorted([old.id, older.id, done.id])
    assert len(await storage.expired_uploads(200.0, 2)) == 2
    assert [u.id for u in await storage.expired_uploads(75.0, 10)] == [older.id]

    assert await storage.upload_of_user(bob.id, old.id) is None
    assert await storage.delete_upload(bob.id, old.id) is None
    assert await storage.delete_upload(alice.id, old.id) == old
    assert await storage.delete_upload(alice.id, old.id) is None
    assert await storage.upload_of_user(alice.id, old.id) is None
    finished = await storage.delete_upload(alice.id, done.id)  # the worker forgets finished ones too
    assert finished is not None and finished.file_id is not None
    assert sorted(u.id for u in await storage.expired_uploads(200.0, 10)) == [older.id]
    assert await storage.upload_of_user(alice.id, fresh_upload.id) == fresh_upload
    for bad in MALFORMED_IDS:
        assert await storage.upload_of_user(alice.id, bad) is None
        assert await storage.delete_upload(alice.id, bad) is None


# ---------------------------------------------------------------- malformed ids


async def test_malformed_ids_match_nothing_in_v2_reads(storage: Storage) -> None:
    user = await make_user(storage)
    record = await make(storage, user)
    for bad in MALFORMED_IDS:
        assert await storage.file_with_trashed(user.id, bad) is None
        assert await storage.file_with_trashed(bad, record.id) is None
        assert (await storage.usage(bad)).used_bytes == 0
        assert await storage.upload_of_user(bad, new_id()) is None
    assert await storage.file_with_trashed(user.id, record.id.upper()) == record
