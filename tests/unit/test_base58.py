"""Base58 (Bitcoin's alphabet) in layers.peel: whole tokens that decode to text are a layer;
pieces of longer runs, tokens with a character outside the alphabet, random tokens and tokens
past MAX_BASE58_RUN are not."""

from __future__ import annotations

import base64
import json
import random

import pytest

from proxy.inspection.encoded_runs import MIN_BASE58_RUN
from proxy.inspection.layers import peel
from proxy.inspection.run_decoders import MAX_BASE58_RUN, b58_text
from tests.corpus import fakes
from tests.corpus.generate import b58encode

_RNG = random.Random(5858)
AWS_KEY = fakes.aws_access_key_id(_RNG)
SECRET_LINE = f"aws_access_key_id = {AWS_KEY}"
ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def reaching(text: str, needle: str = SECRET_LINE) -> tuple[str, ...] | None:
    for layer in peel(text, max_bytes=1 << 20):
        if needle in layer.text:
            return layer.layers
    return None


@pytest.mark.parametrize("text", [
    b58encode(SECRET_LINE.encode()),
    f"decode this: {b58encode(SECRET_LINE.encode())} please",
    json.dumps({"blob": b58encode(SECRET_LINE.encode())}),
    f"/ipfs/{b58encode(SECRET_LINE.encode())}/x",
    f"k={b58encode(SECRET_LINE.encode())}&n=1",
    b58encode(b"\0\0" + SECRET_LINE.encode()),  # leading zero bytes are leading "1"s
], ids=["alone", "in-prose", "in-json", "path-segment", "query-value", "leading-zeros"])
def test_base58_of_text_is_a_layer(text: str) -> None:
    assert reaching(text) == ("base58",)


def test_base58_under_base64_is_peeled_two_deep() -> None:
    outer = base64.b64encode(b58encode(SECRET_LINE.encode()).encode()).decode()
    assert reaching(outer) == ("base64", "base58")


TOKEN = b58encode(SECRET_LINE.encode())


@pytest.mark.parametrize("text", [
    "0" + TOKEN,  # after a digit outside the alphabet: a piece of a longer run
    TOKEN + "0",
    TOKEN[:10] + "0" + TOKEN[10:],
    TOKEN[:10] + "l" + TOKEN[10:],  # a letter outside the alphabet
], ids=["zero-before", "zero-after", "zero-inside", "lower-l-inside"])
def test_only_whole_tokens_in_the_alphabet_are_decoded(text: str) -> None:
    assert reaching(text) != ("base58",)


def test_random_tokens_in_the_alphabet_yield_nothing() -> None:
    """Ids and keys in base58's alphabet decode to binary: no variant, not opened further."""
    rng = random.Random(1)
    tokens = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(16, 64)))
              for _ in range(2000)]
    assert sum(b58_text(token) is not None for token in tokens) == 0
    assert all(len(list(peel(token, max_bytes=1 << 20))) == 1 for token in tokens[:200])


def test_bounds_of_the_token_length() -> None:
    short = b58encode(b"hello, world")[:MIN_BASE58_RUN - 1]
    assert reaching(f"see {short} ok", "hello") is None
    long_text = ("the quick brown fox jumps over the lazy dog " * 200).encode()
    token = b58encode(long_text)
    assert len(token) > MAX_BASE58_RUN
    assert reaching(token, "quick brown fox") is None  # not decoded: its cost would grow
    fitting = b58encode(long_text[:MAX_BASE58_RUN * 5 // 8])
    assert len(fitting) <= MAX_BASE58_RUN
    assert reaching(fitting, "quick brown fox") == ("base58",)


@pytest.mark.parametrize("data", [SECRET_LINE.encode(), b"\0\0" + SECRET_LINE.encode(),
                                  "naïve café, déjà vu: " .encode() + SECRET_LINE.encode()],
                         ids=["ascii", "leading-zero-bytes", "utf-8"])
def test_decoding_is_exact(data: bytes) -> None:
    assert b58_text(b58encode(data)) == data
