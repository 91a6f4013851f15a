"""Cursors: a round trip gives the position back exactly; a cursor edited in
any way, shown to another list, or made under another key is 400 "Invalid
cursor"; processes agree on the key through Redis, and agree again after
Redis lost it."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.cursors import KEY_NAME, CursorKey, Cursors, ListScope
from shared.errors import Invalid
from shared.redis_client import open_redis
from shared.storage import Order, Position

KEY = b"k" * 32
ALICE, BOB = "a" * 24, "b" * 24
FOLDER = ListScope(ALICE, "folder", "0", Order("name"))
ID = "65f0c0ffee0123456789abcd"


def test_positions_round_trip_exactly() -> None:
    cursors = Cursors(KEY)
    for order, value in ((Order("name"), "straße"), (Order("name", True), ""),
                         (Order("updated_at"), 1714567890.123456789), (Order("updated_at"), 0.0),
                         (Order("size", True), 0), (Order("size"), 10 * 2**30), (Order("size"), 2**63 - 1)):
        scope = ListScope(ALICE, "folder", "0", order)
        for is_folder in (True, False):
            position = Position(is_folder, value, ID)
            assert cursors.decode(scope, cursors.encode(scope, position)) == position
    trash = ListScope(ALICE, "trash")
    assert cursors.decode_trash(trash, cursors.encode_trash(trash, (1714567890.5, ID))) == (1714567890.5, ID)


def test_short_and_url_safe() -> None:
    cursor = Cursors(KEY).encode(ListScope(ALICE, "folder", "0", Order("size")), Position(False, 1234, ID))
    assert len(cursor) <= 52
    assert cursor.replace("-", "").replace("_", "").isalnum()


def test_an_id_that_is_not_hex_still_round_trips() -> None:
    cursors = Cursors(KEY)
    position = Position(False, "a", "NOT-HEX-but-an-id")
    assert cursors.decode(FOLDER, cursors.encode(FOLDER, position)) == position


@pytest.mark.parametrize("other", [
    ListScope(BOB, "folder", "0", Order("name")),  # another user's
    ListScope(ALICE, "folder", ID, Order("name")),  # another folder
    ListScope(ALICE, "folder", "0", Order("name", True)),  # another order
    ListScope(ALICE, "search", "0", Order("name")),  # a search
    ListScope(ALICE, "trash"),
])
def test_a_cursor_of_another_list_is_refused(other: ListScope) -> None:
    cursors = Cursors(KEY)
    cursor = cursors.encode(FOLDER, Position(True, "docs", ID))
    with pytest.raises(Invalid, match=r"^Invalid cursor$"):
        if other.kind == "trash":
            cursors.decode_trash(other, cursor)
        else:
            cursors.decode(other, cursor)


def test_a_cursor_made_under_another_key_is_refused() -> None:
    cursor = Cursors(b"x" * 32).encode(FOLDER, Position(True, "docs", ID))
    with pytest.raises(Invalid, match=r"^Invalid cursor$"):
        Cursors(KEY).decode(FOLDER, cursor)


@given(st.data())
def test_any_edit_is_refused(data: st.DataObject) -> None:
    cursors = Cursors(KEY)
    cursor = cursors.encode(FOLDER, Position(False, "report.pdf", ID))
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= data.draw(st.integers(1, 255))
    edited = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(Invalid, match=r"^Invalid cursor$"):
        cursors.decode(FOLDER, edited)


def test_every_character_counts_the_last_one_too() -> None:
    """The last base64 character has unused bits: a cursor differing there only is refused too."""
    cursors = Cursors(KEY)
    for value in ("", "a", "ab", "abc"):  # every remainder of the length
        cursor = cursors.encode(FOLDER, Position(False, value, ID))
        for other in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_":
            if other != cursor[-1]:
                with pytest.raises(Invalid, match=r"^Invalid cursor$"):
                    cursors.decode(FOLDER, cursor[:-1] + other)


@given(st.text(max_size=3000))
def test_any_text_is_a_position_or_invalid_cursor(text: str) -> None:
    try:
        Cursors(KEY).decode(FOLDER, text)
    except Invalid as exc:
        assert exc.message == "Invalid cursor"


@pytest.mark.parametrize("cursor", ["", "=", "a", "abc=", "a+b/", "%%%", "A" * 5000, "AAAA" * 3])
def test_malformed(cursor: str) -> None:
    with pytest.raises(Invalid, match=r"^Invalid cursor$"):
        Cursors(KEY).decode(FOLDER, cursor)


async def test_processes_share_the_key_and_agree_again_after_redis_lost_it(redis_url: str) -> None:
    redis = open_redis(redis_url)
    try:
        first, second = CursorKey(redis), CursorKey(redis)
        await first.load()
        await second.load()
        position = Position(False, "b", ID)
        assert await second.decode(FOLDER, await first.encode(FOLDER, position)) == position
        key = await redis.get(KEY_NAME)
        assert isinstance(key, bytes) and len(key) == 32

        await redis.flushall()  # a Redis restarted without persistence
        third = CursorKey(redis)
        await third.load()  # a process started since: a new key
        assert await redis.get(KEY_NAME) != key
        made_by_first = await first.encode(FOLDER, position)
        # The third refuses the first's cursor once it has looked again: it is stale, not forged...
        with pytest.raises(Invalid, match=r"^Invalid cursor$"):
            await third.decode(FOLDER, made_by_first)
        # ...and the first, shown the third's cursor, adopts the key in Redis: all three agree again.
        assert await first.decode(FOLDER, await third.encode(FOLDER, position)) == position
        for maker in (first, second, third):
            for reader in (first, second, third):
                assert await reader.decode(FOLDER, await maker.encode(FOLDER, position)) == position
    finally:
        await redis.aclose()


async def test_a_missing_key_is_put_back_by_a_process_that_has_it(redis_url: str) -> None:
    redis = open_redis(redis_url)
    try:
        first = CursorKey(redis)
        await first.load()
        key = await redis.get(KEY_NAME)
        await redis.delete(KEY_NAME)
        with pytest.raises(Invalid):
            await first.decode(FOLDER, "AAAA")
        assert await redis.get(KEY_NAME) == key
    finally:
        await redis.aclose()
