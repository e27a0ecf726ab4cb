"""Each shortcut on the inspection hot path gives what the plain definition it stands for gives.

The hot path runs on every request, so a few checks are written for speed rather than for
reading: a regex split into gated pieces, a one-call Brotli probe, an early exit. Each is tested
here against the straightforward version it replaces, on tables of near misses and on random
inputs shaped like the texts it sees (runs of base64, escapes, references, lists of bytes).
"""

from __future__ import annotations

import os
import random

import brotli  # type: ignore[import-untyped]  # no stubs or py.typed marker
import pytest

from proxy.inspection import encoded_runs, textual, whole_text
from proxy.inspection.brotli_stream import brotli_chunks, brotli_head
from proxy.inspection.decode_errors import UndecodableBody

_PIECES = [
    "%41", "%4", "%u0041", "%u004", "\\x41", "\\u0041", "\\101", "\\q", "&#65;", "&amp;", "&#;",
    "&x", "AKIAIOSFODNN7EXAM", "AKIAIOSFODNN7EXA", "abc/def+ghi_jkl-", "abc/def+ghi_jkl",
    "65,75,73,65,73,79,83,70", "65,75,73,65,73,79,83", "de:ad:be:ef:00:11:22:33",
    "0x41 0x4b 0x49 0x41 0x41 0x4b 0x49 0x41", "1 2 3 4 5 6 7 8", "1.2.3.4", "v1.2.3-rc4",
    "a=b+c", "key=val ue+", "x[y]=1+2", "k=v&l=w+", " ", "\n", "\t", "=", "+", "é", "\u200b",
    " ".join(["01000001"] * 8), " ".join(["01000001"] * 7), "01000001" * 8, "0100000" * 9,
    ", ".join(["01101011"] * 8), "-".join(["1111111"] * 10),
    # base85 tokens and near misses (one sign, one character short), odd white space
    "K}$(NGEYZYLP1D2Q&de&PFPM+", '5tad81/CDC6:".#;cHIc:0:7g', "abcdefghijklmnopqrs(",
    "abcdefghijklmnopqr(",
    "\u00a0", "\u2003", "\x1c", "&#x41;", "&\u00e9t\u00e9;",
    # octal lists (`oct()`, C's leading zero) and uuencoded lines, with near misses
    "0o101 0o113 0o111 0o101 0o62 0o117 0o107 0o131", "0o101 0o113 0o111 0o101 0o62 0o117",
    "0101,0113,0111,0101,062,0117,0107,0131", "101 113 111 101 62 117 107 131",
    '\n,04M)03)/1UE"04@V4', "\nM04M)03)/1UE", "-ABCDEFGHIJKLMN", "+ABCDEFGHIJKLMNOP",
    "\r\nM`````````````", "\n\nSELECT A, B FROM T",
    # quoted-printable soft line breaks, and "=" at line ends that are not
    "ab=\ncd", "ab=\r\ncd", "==\nx", " =\nx", "a=\n x", "a=\r\n",
    # base64 in groups of one width, and near misses (two groups then a wider one, three with
    # no fourth, a group glued to a sign, sixteen characters: a run)
    "QUtJ QVFZ TFBN TjVI", "QUtJQVFZ\nTFBNTjVI\n> SUZR\nUjdY", "QUtJ QVFZ TFBNT jVI",
    "QUtJ QVFZ TFBN", "=QUtJ QVFZ TFBN TjVI", "reads split build should", "QUtJQVFZTFBNTjVI WQ",
]


def _random_texts(count: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    alphabet = "abcXYZ019+/_-=%&#;\\xuU: ,.\n\t"
    texts = []
    for _ in range(count):
        parts = [rnd.choice(_PIECES) if rnd.random() < 0.5
                 else "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 24)))
                 for _ in range(rnd.randint(0, 6))]
        texts.append("".join(parts))
    return texts


@pytest.mark.parametrize("text", [*_PIECES, "", "plain words only", "x" * 15, "x" * 16])
def test_maybe_encoded_agrees_with_the_single_pattern_on_the_table(text: str) -> None:
    assert encoded_runs.maybe_encoded(text) == bool(encoded_runs._MAYBE_ENCODED.search(text))


def test_maybe_encoded_agrees_with_the_single_pattern_on_random_texts() -> None:
    texts = _random_texts(20_000, seed=7)
    assert sum(encoded_runs.maybe_encoded(t) for t in texts) > 1000  # both answers are exercised
    assert sum(not encoded_runs.maybe_encoded(t) for t in texts) > 1000
    reference = encoded_runs._MAYBE_ENCODED
    assert [t for t in texts if encoded_runs.maybe_encoded(t) != bool(reference.search(t))] == []


def test_the_form_pair_gate_holds_wherever_the_form_pattern_matches() -> None:
    texts = _random_texts(20_000, seed=11)
    matched = [t for t in texts if whole_text._FORM_PAIR_WITH_PLUS.search(t)]
    assert len(matched) > 200
    assert [t for t in matched if not whole_text._EQUALS_THEN_PLUS.search(t)] == []


def _first_chunk(data: bytes, size: int) -> bytes | None:
    try:
        return next(brotli_chunks(data, size), b"")
    except UndecodableBody:
        return None


def _brotli_inputs(seed: int) -> list[bytes]:
    rnd = random.Random(seed)
    inputs = [os.urandom(rnd.randint(0, 64)) for _ in range(3000)]
    for _ in range(300):
        text = bytes(rnd.randint(32, 126) for _ in range(rnd.randint(0, 3000)))
        packed = brotli.compress(text, quality=rnd.randint(0, 11))
        inputs += [packed, packed[: rnd.randint(0, len(packed))], packed + b"x",
                   packed[:-1] + bytes([rnd.randint(0, 255)])]
    return inputs


@pytest.mark.parametrize("size", [8, 1024, 65536])
def test_brotli_head_is_the_first_chunk_of_the_stream_decoder(size: int) -> None:
    produced = 0
    for data in _brotli_inputs(seed=size):
        head, chunk = brotli_head(data, size), _first_chunk(data, size)
        # Equal output; an empty probe may be b"" or None either way (nothing to read).
        assert (head or b"") == (chunk or b""), data[:32]
        produced += bool(head)
    assert produced > 300  # real streams were decoded, not only refused


def _sniff_without_shortcut(raw: bytes) -> str | None:
    if len(raw) < textual._MIN_WIDE_BYTES:
        return None
    for codec, offsets, step in (("utf-32-le", (1, 2, 3), 4), ("utf-32-be", (0, 1, 2), 4),
                                 ("utf-16-le", (1,), 2), ("utf-16-be", (0,), 2)):
        if all(textual._mostly_zero(raw[offset::step]) for offset in offsets):
            return codec
    return None


def test_wide_codec_sniffing_agrees_with_the_column_by_column_test() -> None:
    rnd = random.Random(3)
    samples = [os.urandom(rnd.randint(0, 40)) for _ in range(2000)]
    for text in ("AKIAIOSFODNN7EXAMPLE", "hi", "a" * 9, "x"):
        for codec in ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"):
            encoded = text.encode(codec)
            samples += [encoded, encoded[:-1], encoded + b"\x01", b"\x01" + encoded]
            noisy = bytearray(encoded)
            noisy[rnd.randrange(len(noisy))] = 0x41
            samples.append(bytes(noisy))
    assert any(_sniff_without_shortcut(s) for s in samples)
    assert [s for s in samples if textual.sniff_wide_codec(s) != _sniff_without_shortcut(s)] == []
