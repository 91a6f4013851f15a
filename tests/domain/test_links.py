"""Share-link rules (shared/domain/links.py) and the Accept negotiation of /s/."""

from __future__ import annotations

import hashlib
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.api.accept import prefers_html
from shared.domain import links as rules
from shared.domain.secret import derive
from shared.errors import Gone
from shared.storage import ShareLink, new_id

KEY = derive(b"k" * 32, rules.UNLOCK_PURPOSE)
DAY = 86400


def _link(**changes) -> ShareLink:
    values = dict(id=new_id(), user_id=new_id(), file_id=new_id(), token_hash="0" * 64,
                  created_at=1000.0, expires_at=1000.0 + DAY)
    return ShareLink(**{**values, **changes})


def test_tokens_are_128_random_bits_stored_as_their_sha256() -> None:
    tokens = {rules.new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    for token in tokens:
        assert rules.is_token(token) and len(token) == 22
        assert rules.token_hash(token) == hashlib.sha256(token.encode()).hexdigest()
    link = rules.new_link(new_id(), new_id(), "A" * 22, rules.LinkTerms(60, None, None), None, 5.0)
    assert link.token_hash == rules.token_hash("A" * 22) and "A" * 22 not in repr(link)
    assert (link.created_at, link.expires_at, link.downloads) == (5.0, 65.0, 0)


@pytest.mark.parametrize("text", ["", "a" * 21, "a" * 23, "a" * 4000, "a" * 21 + "=", "a" * 21 + "/",
                                  "a" * 21 + "é", "a" * 21 + ".", "a" * 21 + "%", "a" * 21 + "\x00"])
def test_what_is_not_a_token(text: str) -> None:
    assert not rules.is_token(text)


@pytest.mark.parametrize(("value", "expected"), [(None, 7 * DAY), (1, 1), (60.0, 60), (30 * DAY, 30 * DAY)])
def test_expiry(value, expected) -> None:
    assert rules.expiry_seconds(value, 7 * DAY, 30 * DAY) == expected


@pytest.mark.parametrize("value", [0, -1, 30 * DAY + 1, 1.5, "60", True, False, [], {}, float("inf"), 10**30])
def test_expiry_refused(value) -> None:
    with pytest.raises(ValueError, match="from 1 to 2592000"):
        rules.expiry_seconds(value, 7 * DAY, 30 * DAY)


def test_passwords_and_download_limits() -> None:
    assert rules.link_password(None) is None
    assert rules.link_password("x") == "x"
    assert rules.link_password("é" * 1024) == "é" * 1024
    for bad in ["", "x" * 1025, 12, True, ["x"]]:
        with pytest.raises(ValueError):
            rules.link_password(bad)
    assert rules.max_downloads(None) is None
    assert rules.max_downloads(1) == 1 and rules.max_downloads(3.0) == 3
    for bad in [0, -3, 1.5, "2", True, 2**60]:
        with pytest.raises(ValueError):
            rules.max_downloads(bad)


def test_when_a_link_is_dead() -> None:
    now = 2000.0
    assert not rules.is_dead(_link(), now)
    assert rules.is_dead(_link(expires_at=now), now)  # expiry is exclusive
    assert rules.is_dead(_link(revoked_at=1500.0), now)
    assert rules.is_dead(_link(max_downloads=2, downloads=2), now)
    assert not rules.is_dead(_link(max_downloads=2, downloads=1), now)
    with pytest.raises(Gone, match="Link expired"):
        rules.check_alive(_link(revoked_at=1.0), now)


def test_an_unlock_value_opens_its_link_for_an_hour_and_nothing_else() -> None:
    link, other = _link(), _link()
    now = 1500.0
    value, expires = rules.unlock_value(KEY, link, now)
    assert expires == math.floor(now) + rules.UNLOCK_SECONDS
    assert rules.is_unlocked(KEY, link, value, now)
    assert rules.is_unlocked(KEY, link, value, expires - 1)
    assert not rules.is_unlocked(KEY, link, value, expires)  # an hour later
    assert not rules.is_unlocked(KEY, other, value, now)  # another link
    assert not rules.is_unlocked(derive(b"x" * 32, rules.UNLOCK_PURPOSE), link, value, now)  # another key
    assert not rules.is_unlocked(derive(b"k" * 32, "cursor"), link, value, now)  # another purpose
    link_id, stamp, mac = value.split(".")
    assert link_id == link.id and int(stamp) == expires
    forged = [f"{link_id}.{int(stamp) + 3600}.{mac}", f"{other.id}.{stamp}.{mac}", f"{link_id}.{stamp}.{'0' * 64}",
              f"{link_id}.{stamp}.{mac.upper()}", f"{link_id}.{stamp}.{mac[:-1]}", value + ".", "", "x" * 5000,
              f"{link_id}.{stamp}", f"{link_id}.-1.{mac}", f"{link_id}.{stamp}.{mac}é"]
    for cookie in forged:
        assert not rules.is_unlocked(KEY, link, cookie, now), cookie
    assert not rules.is_unlocked(KEY, link, None, now)


def test_an_unlock_value_never_outlives_its_link() -> None:
    link = _link(expires_at=1600.5)
    value, expires = rules.unlock_value(KEY, link, 1500.0)
    assert expires == 1601
    assert not rules.is_unlocked(KEY, link, value, 1601.0)


@given(st.text(max_size=200))
def test_unlock_values_from_anywhere_never_open_a_link(cookie: str) -> None:
    assert not rules.is_unlocked(KEY, _link(), cookie, 0.0)


BROWSERS = [
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
    "application/signed-exchange;v=b3;q=0.7",  # Chromium
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",  # Firefox
    "text/html",
    "TEXT/HTML; q=1",
    "application/json;q=0.5, text/html",
]
NOT_PAGES = [
    None, "", "*/*", "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",  # an <img>
    "application/json", "application/json, text/html;q=0.9", "text/*", "text/html;q=0",
    "text/html;q=abc", "text/html;q=2", "text/html" + ",x/y" * 1000,
]


@pytest.mark.parametrize("accept", BROWSERS)
def test_a_browser_navigating_prefers_html(accept: str) -> None:
    assert prefers_html(accept)


@pytest.mark.parametrize("accept", NOT_PAGES)
def test_others_do_not(accept: str | None) -> None:
    assert not prefers_html(accept)
