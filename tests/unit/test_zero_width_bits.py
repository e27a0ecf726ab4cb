"""Text hidden as bits in zero-width characters (whole_text.hidden_texts, "zero_width_bits"):
two of them for 0 and 1, eight bits a byte, either way round; or a third between the characters,
each piece one character's code in binary. Emoji joiners, short runs and random bits yield
nothing."""

from __future__ import annotations

import random

import pytest

from proxy.inspection.layers import peel
from proxy.inspection.whole_text import MIN_ZERO_WIDTH_RUN, _zero_width_text
from tests.corpus import fakes
from tests.corpus.generate import zero_width_bits

_RNG = random.Random(2002)
AWS_KEY = fakes.aws_access_key_id(_RNG)
SECRET_LINE = f"aws_access_key_id = {AWS_KEY}"
ZWSP, ZWNJ, ZWJ = "\u200b", "\u200c", "\u200d"


def reaching(text: str) -> tuple[str, ...] | None:
    for layer in peel(text, max_bytes=1 << 20):
        if SECRET_LINE in layer.text:
            return layer.layers
    return None


def per_character(text: str, zero: str, one: str, separator: str) -> str:
    """As zero-width steganography tools write it: `bin(ord(c))` per character, a separator
    between characters."""
    return separator.join(bin(ord(c))[2:].replace("0", zero).replace("1", one) for c in text)


@pytest.mark.parametrize("text", [
    "Noted, thanks." + zero_width_bits(SECRET_LINE.encode()),
    zero_width_bits(SECRET_LINE.encode()).translate({ord(ZWSP): ZWNJ, ord(ZWNJ): ZWSP}),
    "ok " + per_character(SECRET_LINE, ZWSP, ZWNJ, ZWJ) + " bye",
    per_character(SECRET_LINE, "\u2060", "\ufeff", ZWSP),
    "a" + zero_width_bits(SECRET_LINE.encode()) + "b" + "c" * 100,
], ids=["eight-bits-a-byte-after-text", "ones-and-zeros-swapped", "per-character-with-joiner",
        "other-characters-per-character", "inside-a-word"])
def test_text_hidden_in_zero_width_bits_is_a_layer(text: str) -> None:
    assert reaching(text) == ("zero_width_bits",)


@pytest.mark.parametrize("text", [
    "Family: \U0001F468\u200d\U0001F469\u200d\U0001F467 and \u200bsoft\u200bbreaks",
    ZWSP * 200,  # one symbol: no bits
    "x" + zero_width_bits(b"hi!")[:MIN_ZERO_WIDTH_RUN - 1] + "y",  # too short
    "".join(_RNG.choice((ZWSP, ZWNJ)) for _ in range(400)),  # random bits
    "".join(_RNG.choice((ZWSP, ZWNJ, ZWJ)) for _ in range(400)),
], ids=["emoji-joiners-and-soft-breaks", "one-symbol", "too-short", "random-two-symbols",
        "random-three-symbols"])
def test_no_hidden_text_where_there_is_none(text: str) -> None:
    assert all("zero_width_bits" not in layer.layers
               for layer in peel(text, max_bytes=1 << 20))


def test_the_reading_is_exact() -> None:
    assert _zero_width_text(zero_width_bits(SECRET_LINE.encode())) == SECRET_LINE
    assert _zero_width_text(per_character(SECRET_LINE, ZWSP, ZWNJ, ZWJ)) == SECRET_LINE
