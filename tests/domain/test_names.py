"""valid_name: what v2 accepts as a file or folder name (api-v2.md, Names)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.names import INVALID_NAME, MAX_NAME_BYTES, valid_name
from shared.errors import Invalid


@pytest.mark.parametrize("name", ["a", "report.pdf", ".hidden", "...", "a b", " lead", "é", "日本語.txt",
                                  "x" * MAX_NAME_BYTES, "é" * (MAX_NAME_BYTES // 2), "😀" * 63])
def test_names_kept(name: str) -> None:
    assert valid_name(name) == name


def test_nfc_normalised_and_measured_after() -> None:
    decomposed = "e\u0301" * 100  # 300 bytes as typed, 200 once composed
    assert valid_name(decomposed) == "\u00e9" * 100
    assert valid_name("Cafe\u0301") == "Caf\u00e9"


@pytest.mark.parametrize("name", [
    "", ".", "..", "a/b", "/", "a\\b", "\\", "nul\x00", "tab\there", "line\nbreak", "cr\r", "\x7f",
    "c1\x85", "\x9f", "esc\x1b", "x" * (MAX_NAME_BYTES + 1), "é" * 128, "😀" * 64, "\ud800",
    None, 0, 1.5, True, [], {}, ["a"],
])
def test_names_refused(name: object) -> None:
    with pytest.raises(Invalid) as caught:
        valid_name(name)
    assert caught.value.message == INVALID_NAME


@given(st.text())
def test_any_text_is_either_a_valid_name_or_refused_as_one(text: str) -> None:
    try:
        name = valid_name(text)
    except Invalid as exc:
        assert exc.message == INVALID_NAME
        return
    assert name == unicodedata.normalize("NFC", name)
    assert 1 <= len(name.encode()) <= MAX_NAME_BYTES
    assert name not in (".", "..")
    assert not any(ch in "/\\" or unicodedata.category(ch) == "Cc" for ch in name)
