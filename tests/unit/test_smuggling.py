"""Hidden text a language model reads but a person does not see: Unicode tag characters
("ASCII smuggling") and bytes spelled by runs of variation selectors (data in an emoji)."""

from __future__ import annotations

import base64

import pytest

from proxy.inspection.layers import peel
from proxy.inspection.whole_text import MIN_SELECTOR_RUN

KEY = "AKIAQ3FXN7TRZ4LWPK2B"


def _tags(text: str) -> str:
    return "".join(chr(0xE0000 + ord(c)) for c in text)


def _selectors(data: bytes) -> str:
    return "".join(chr(0xFE00 + b) if b < 16 else chr(0xE0100 + b - 16) for b in data)


def _variants(text: str) -> dict[tuple[str, ...], str]:
    return {layer.layers: layer.text for layer in peel(text, max_bytes=1 << 20)}


def test_tag_characters_are_read_as_the_ascii_they_hide() -> None:
    text = f"Looks harmless {_tags('key ' + KEY)} right?"
    assert _variants(text)[("tags",)] == f"key {KEY}"


def test_separate_runs_of_tags_are_read_one_a_line() -> None:
    text = f"a{_tags('first')}b{_tags('second')}"
    assert _variants(text)[("tags",)] == "first\nsecond"


def test_a_run_of_variation_selectors_is_read_as_the_bytes_it_spells() -> None:
    text = "Thanks \U0001F642" + _selectors(f"key {KEY}".encode())
    assert _variants(text)[("variation_selectors",)] == f"key {KEY}"


def test_hidden_base64_is_peeled_below_the_tags() -> None:
    text = "ok " + _tags(base64.b64encode(f"key {KEY}".encode()).decode())
    assert _variants(text)[("tags", "base64")] == f"key {KEY}"


@pytest.mark.parametrize("text", [
    "I \u2764\ufe0f this \U0001F44D\U0001F3FD and \u2600\ufe0f\u2600\ufe0f\u2600\ufe0f",
    "flag \U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F",  # Scotland
    "x" + "\ufe0f" * (MIN_SELECTOR_RUN - 1),
    "\U0001F642" + _selectors(bytes(range(200, 220))),  # bytes that are not text
])
def test_emoji_and_short_selector_runs_hide_nothing_to_scan(text: str) -> None:
    variants = _variants(text)
    assert ("variation_selectors",) not in variants
    hidden = variants.get(("tags",), "")
    assert KEY not in hidden and len(hidden) < 16  # a flag's tag sequence spells "gbsct"
