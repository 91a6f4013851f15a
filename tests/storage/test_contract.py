"""The Storage contract, run on every backend (see conftest.py).

Whatever the backend, the API above it relies on exactly these semantics:
24-hex ids, the root as 0, owner scoping on every file query, stable paging,
exact counts, and malformed ids that match nothing instead of raising.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from shared.errors import EmailTaken, Invalid
from shared.storage import PAGE_SIZE, ROOT, FileRecord, NewFile, Storage, User, is_id, new_id

MALFORMED_IDS = ["", "0", "abc", "g" * 24, "0" * 23, "0" * 25, "not an id at all", " " + "a" * 23]


async def make_user(storage: Storage, email: str = "bob@dylan.com") -> User:
    return await storage.create_user(email, f"hash-of-{email}")


async def make_file(
    storage: Storage,
    user: User,
    name: str = "f.txt",
    type_: str = "file",
    parent: int | str = ROOT,
    public: bool = False,
) -> FileRecord:
    local_path = None if type_ == "folder" else f"/tmp/files_manager/{new_id()}"
    return await storage.create_file(
        NewFile(user_id=user.id, name=name, type=type_, is_public=public, parent_id=parent,
                local_path=local_path)
    )


def v1_fields(record: FileRecord) -> tuple:
    """What v1 knows of a file (v2's sizes and times are test_contract_v2.py's)."""
    return (record.id, record.user_id, record.name, record.type, record.is_public, record.parent_id,
            record.local_path)


# ---------------------------------------------------------------- users


async def test_create_user_then_look_it_up(storage: Storage) -> None:
    user = await storage.create_user("bob@dylan.com", "$argon2id$fake")
    assert is_id(user.id) and user.id == user.id.lower()
    assert (user.email, user.password_hash) == ("bob@dylan.com", "$argon2id$fake")
    assert await storage.user_by_id(user.id) == user
    assert await storage.user_by_id(user.id.upper()) == user
    assert await storage.user_by_email("bob@dylan.com") == user


async def test_duplicate_email_is_email_taken(storage: Storage) -> None:
    first = await make_user(storage)
    with pytest.raises(EmailTaken):
        await storage.create_user("bob@dylan.com", "another hash")
    assert await storage.count_users() == 1
    assert await storage.user_by_email("bob@dylan.com") == first


async def test_emails_compare_by_case_and_trimmed_but_are_kept_as_typed(storage: Storage) -> None:
    user = await storage.create_user("A@X.IO", "h")
    assert user.email == "A@X.IO"
    for spelling in ("A@X.IO", "a@x.io", " a@x.io", "a@X.io\t ", "\u00a0A@x.IO\n"):
        assert await storage.user_by_email(spelling) == user, spelling
        with pytest.raises(EmailTaken):
            await storage.create_user(spelling, "h2")
    assert await storage.user_by_email("a@x.i") is None
    assert await storage.user_by_email("a@x.io.") is None
    assert await storage.user_by_email("a @x.io") is None  # inner spaces count
    assert await storage.count_users() == 1

    spaced = await storage.create_user("  Bob@Dylan.com ", "h")
    assert spaced.email == "  Bob@Dylan.com "  # stored and returned exactly as typed
    assert await storage.user_by_id(spaced.id) == spaced
    assert await storage.user_by_email("bob@dylan.com") == spaced
    # Unicode case folding, not only ASCII
    accented = await storage.create_user("\u00c9lodie@\u00c9cole.fr", "h")
    assert await storage.user_by_email("\u00e9lodie@\u00e9cole.fr") == accented
    with pytest.raises(EmailTaken):
        await storage.create_user("\u00e9LODIE@\u00e9cole.FR", "h")


async def test_racing_sign_ups_of_one_email_make_one_account(storage: Storage) -> None:
    spellings = ["race@x.io", "RACE@x.io", " race@X.IO", "Race@x.io ", "race@x.IO"] * 4
    results = await asyncio.gather(
        *(storage.create_user(s, f"h{n}") for n, s in enumerate(spellings)), return_exceptions=True
    )
    created = [r for r in results if isinstance(r, User)]
    assert len(created) == 1, results
    assert all(isinstance(r, EmailTaken) for r in results if not isinstance(r, User)), results
    assert await storage.count_users() == 1
    assert await storage.user_by_email("RACE@X.IO") == created[0]


async def test_any_text_is_answered_never_a_crash(storage: Storage) -> None:
    """Lone surrogates cannot be stored (UTF-8): looked up, they match nothing;
    written, they are Invalid (a 400), never a driver's exception."""
    user = await make_user(storage)
    bad = "bob\udcff@dylan.com"
    assert await storage.user_by_email(bad) is None
    assert await storage.user_by_email("\ud800") is None
    with pytest.raises(Invalid):
        await storage.create_user(bad, "h")
    with pytest.raises(Invalid):
        await storage.create_file(NewFile(user.id, "n\udcffame", "folder", False, ROOT, None))
    with pytest.raises(Invalid):
        await storage.set_password_hash(user.id, user.password_hash, "\udcff")
    for method in (storage.user_by_id, storage.delete_user):
        assert await method("\udcff" * 24) is None
    assert await storage.children("\udcff" * 24, ROOT, 0) == []
    assert await storage.children(user.id, "\udcff" * 24, 0) == []
    assert await storage.file_of_user(user.id, "\udcff" * 24) is None
    assert await storage.file_readable_by("\udcff", "\udcff" * 24) is None
    assert await storage.set_public(user.id, "\udcff" * 24, True) is None
    await storage.delete_file("\udcff" * 24, "\udcff" * 24)
    # Everything else still works, nothing was written.
    assert await storage.count_users() == 1 and await storage.count_files() == 0
    assert (await make_file(storage, user)).user_id == user.id


async def test_unknown_and_malformed_user_ids_match_nothing(storage: Storage) -> None:
    user = await make_user(storage)
    assert await storage.user_by_id(new_id()) is None
    for bad in [*MALFORMED_IDS, user.id + "0", user.id[:-1]]:
        assert await storage.user_by_id(bad) is None, bad
    assert await storage.user_by_id({"$ne": None}) is None  # type: ignore[arg-type]
    assert await storage.user_by_email("nobody@example.com") is None


async def test_set_password_hash_only_replaces_the_expected_hash(storage: Storage) -> None:
    user = await storage.create_user("bob@dylan.com", "old")
    assert await storage.set_password_hash(user.id, "stale", "new") is False
    assert (await storage.user_by_id(user.id)).password_hash == "old"
    assert await storage.set_password_hash(user.id, "old", "new") is True
    assert (await storage.user_by_id(user.id)).password_hash == "new"
    # The loser of a race (still holding "old") changes nothing.
    assert await storage.set_password_hash(user.id, "old", "newer") is False
    assert (await storage.user_by_email("bob@dylan.com")).password_hash == "new"
    assert await storage.set_password_hash(new_id(), "new", "x") is False
    for bad in MALFORMED_IDS:
        assert await storage.set_password_hash(bad, "new", "x") is False


async def test_delete_user_undoes_create_user(storage: Storage) -> None:
    keep = await make_user(storage, "keep@example.com")
    gone = await make_user(storage, "gone@example.com")
    await storage.delete_user(gone.id)
    assert await storage.user_by_id(gone.id) is None
    assert await storage.user_by_email("gone@example.com") is None
    assert await storage.user_by_id(keep.id) == keep
    assert await storage.count_users() == 1
    for bad in MALFORMED_IDS:
        await storage.delete_user(bad)  # never raises
    # The email is free again.
    assert (await make_user(storage, "gone@example.com")).email == "gone@example.com"


async def test_count_users(storage: Storage) -> None:
    assert await storage.count_users() == 0
    for n in range(3):
        await make_user(storage, f"u{n}@example.com")
    assert await storage.count_users() == 3


# ---------------------------------------------------------------- files


async def test_create_folder_file_and_image(storage: Storage) -> None:
    user = await make_user(storage)
    folder = await make_file(storage, user, "docs", "folder")
    assert is_id(folder.id)
    assert v1_fields(folder) == (folder.id, user.id, "docs", "folder", False, ROOT, None)
    assert folder.parent_id == 0 and type(folder.parent_id) is int

    text = await storage.create_file(
        NewFile(user_id=user.id, name="hello.txt", type="file", is_public=True,
                parent_id=folder.id, local_path="/tmp/files_manager/abc")
    )
    assert v1_fields(text) == (text.id, user.id, "hello.txt", "file", True, folder.id,
                               "/tmp/files_manager/abc")
    image = await make_file(storage, user, "a.png", "image", folder.id)
    assert (image.type, image.parent_id) == ("image", folder.id)
    assert image.local_path is not None

    for record in (folder, text, image):
        assert await storage.file_of_user(user.id, record.id) == record
    assert len({folder.id, text.id, image.id}) == 3


async def test_root_given_as_string_zero_is_the_root(storage: Storage) -> None:
    user = await make_user(storage)
    record = await make_file(storage, user, parent="0")
    assert record.parent_id == ROOT and type(record.parent_id) is int
    assert (await storage.file_of_user(user.id, record.id)).parent_id == ROOT
    assert [f.id for f in await storage.children(user.id, ROOT, 0)] == [record.id]
    assert [f.id for f in await storage.children(user.id, "0", 0)] == [record.id]


async def test_file_of_user_is_owner_scoped(storage: Storage) -> None:
    alice = await make_user(storage, "alice@example.com")
    bob = await make_user(storage, "bob@example.com")
    mine = await make_file(storage, alice, public=True)
    assert await storage.file_of_user(alice.id, mine.id) == mine
    assert await storage.file_of_user(alice.id, mine.id.upper()) == mine
    assert await storage.file_of_user(bob.id, mine.id) is None  # public or not: not bob's
    assert await storage.file_of_user(alice.id, new_id()) is None
    for bad in MALFORMED_IDS:
        assert await storage.file_of_user(alice.id, bad) is None
        assert await storage.file_of_user(bad, mine.id) is None


async def test_file_readable_by(storage: Storage) -> None:
    alice = await make_user(storage, "alice@example.com")
    bob = await make_user(storage, "bob@example.com")
    private = await make_file(storage, alice, "private.txt")
    public = await make_file(storage, alice, "public.txt", public=True)

    assert await storage.file_readable_by(alice.id, private.id) == private
    assert await storage.file_readable_by(bob.id, private.id) is None
    assert await storage.file_readable_by(None, private.id) is None
    for reader in (alice.id, bob.id, None):
        assert await storage.file_readable_by(reader, public.id) == public
    for bad in MALFORMED_IDS:
        assert await storage.file_readable_by(alice.id, bad) is None
        assert await storage.file_readable_by(bad, private.id) is None
        assert await storage.file_readable_by(bad, public.id) == public
    assert await storage.file_readable_by(None, new_id()) is None


async def test_children_are_owner_scoped(storage: Storage) -> None:
    alice = await make_user(storage, "alice@example.com")
    bob = await make_user(storage, "bob@example.com")
    folder = await make_file(storage, alice, "docs", "folder")
    inside = await make_file(storage, alice, "in.txt", parent=folder.id)
    at_root = await make_file(storage, alice, "root.txt", public=True)
    bobs = await make_file(storage, bob, "bob.txt")
    # bob can neither put a file in alice's folder nor list it, even by knowing its id
    with pytest.raises(Invalid):
        await storage.create_file(
            NewFile(user_id=bob.id, name="x", type="file", is_public=False, parent_id=folder.id,
                    local_path="/tmp/x")
        )

    assert {f.id for f in await storage.children(alice.id, ROOT, 0)} == {folder.id, at_root.id}
    assert await storage.children(alice.id, folder.id, 0) == [inside]
    assert await storage.children(alice.id, folder.id.upper(), 0) == [inside]
    assert await storage.children(bob.id, ROOT, 0) == [bobs]
    assert await storage.children(bob.id, folder.id, 0) == []
    assert await storage.children(alice.id, new_id(), 0) == []
    assert await storage.children(alice.id, inside.id, 0) == []  # a file has no children
    for bad in MALFORMED_IDS:
        assert await storage.children(bad, ROOT, 0) == [], bad
        if bad != "0":  # "0" is the root
            assert await storage.children(alice.id, bad, 0) == [], bad


async def test_paging_45_files(storage: Storage) -> None:
    user = await make_user(storage)
    other = await make_user(storage, "other@example.com")
    created = [(await make_file(storage, user, f"f{n}.txt")).id for n in range(45)]
    for n in range(3):  # noise: another user's files in the same (root) folder
        await make_file(storage, other, f"o{n}.txt")

    pages = [await storage.children(user.id, ROOT, page) for page in range(4)]
    assert [len(p) for p in pages] == [PAGE_SIZE, PAGE_SIZE, 5, 0]
    ids = [f.id for p in pages for f in p]
    assert len(set(ids)) == 45  # no overlap
    assert set(ids) == set(created)
    seconds = [int(i[:8], 16) for i in ids]  # an id starts with its creation time
    assert seconds == sorted(seconds)  # oldest first (within a second, the backend's order)
    assert all(f.user_id == user.id for p in pages for f in p)
    again = [await storage.children(user.id, ROOT, page) for page in range(4)]
    assert again == pages
    assert await storage.children(user.id, ROOT, 99) == []


async def test_set_public_is_owner_scoped_and_idempotent(storage: Storage) -> None:
    alice = await make_user(storage, "alice@example.com")
    bob = await make_user(storage, "bob@example.com")
    record = await make_file(storage, alice)

    published = await storage.set_public(alice.id, record.id, True)
    assert published == replace(record, is_public=True)
    assert await storage.set_public(alice.id, record.id, True) == published
    assert await storage.file_readable_by(None, record.id) == published

    assert await storage.set_public(bob.id, record.id, False) is None
    assert (await storage.file_of_user(alice.id, record.id)).is_public is True

    unpublished = await storage.set_public(alice.id, record.id, False)
    assert unpublished is not None and unpublished.is_public is False
    assert await storage.file_readable_by(None, record.id) is None
    assert await storage.set_public(alice.id, new_id(), True) is None
    for bad in MALFORMED_IDS:
        assert await storage.set_public(alice.id, bad, True) is None
        assert await storage.set_public(bad, record.id, True) is None
    assert (await storage.file_of_user(alice.id, record.id)).is_public is False


async def test_delete_file_is_owner_scoped(storage: Storage) -> None:
    alice = await make_user(storage, "alice@example.com")
    bob = await make_user(storage, "bob@example.com")
    record = await make_file(storage, alice)
    await storage.delete_file(bob.id, record.id)
    assert await storage.file_of_user(alice.id, record.id) == record
    for bad in MALFORMED_IDS:
        await storage.delete_file(alice.id, bad)  # never raises
    await storage.delete_file(alice.id, record.id)
    assert await storage.file_of_user(alice.id, record.id) is None
    assert await storage.count_files() == 0


async def test_count_files_counts_every_file_and_folder(storage: Storage) -> None:
    assert await storage.count_files() == 0
    alice = await make_user(storage, "alice@example.com")
    bob = await make_user(storage, "bob@example.com")
    folder = await make_file(storage, alice, "docs", "folder")
    await make_file(storage, alice, "a.txt", parent=folder.id)
    await make_file(storage, bob, "b.png", "image", public=True)
    assert await storage.count_files() == 3
    assert await storage.count_users() == 2


async def test_ping(storage: Storage) -> None:
    assert await storage.ping() is True
