"""peel_hints answers, for a request's texts at once, what maybe_encoded answers one by one.

Its hyperscan patterns are looser than _MAYBE_ENCODED's alternatives (bytes, not characters)
and a text they do not touch is never searched: the tests check on random texts shaped like the
hot path's that no text maybe_encoded would peel is left out, that base85 tokens are always
flagged, and that each fallback (a NUL inside a text, too many hits, many texts) gives the same
answers.
"""

from __future__ import annotations

import base64
import binascii
import random
import textwrap
from typing import Any

import pytest

from proxy.inspection import encoded_runs, layers, peel_hints
from proxy.inspection.decode_errors import DepthLimitExceeded
from proxy.inspection.fields import Field
from tests.unit.test_fast_paths import _PIECES, _random_texts


def _fields(texts: list[str], *, peel: bool = True) -> list[tuple[Field, int]]:
    return [(Field(f"body:$.f{i}", text, peel), i) for i, text in enumerate(texts)]


def _answers(texts: list[str]) -> list[peel_hints.Hint]:
    answers = list(peel_hints.with_peel_hints(_fields(texts)))
    assert [extra for _, extra, _ in answers] == list(range(len(texts)))  # order kept
    return [hint for _, _, hint in answers]


def test_hints_agree_with_maybe_encoded_on_random_texts() -> None:
    texts = _random_texts(20_000, seed=23)
    answers = _answers(texts)
    assert sum(a.maybe for a in answers) > 1000 and sum(not a.maybe for a in answers) > 1000
    assert [t for t, a in zip(texts, answers, strict=True)
            if a.maybe != encoded_runs.maybe_encoded(t)] == []


def test_every_text_with_a_base85_token_is_flagged_for_it() -> None:
    texts = _random_texts(20_000, seed=29)
    with_tokens = [i for i, t in enumerate(texts) if encoded_runs._has_base85_token(t)]
    assert len(with_tokens) > 500
    answers = _answers(texts)
    assert [texts[i] for i in with_tokens if not answers[i].root.base85] == []
    # and most texts are not: the flag is what spares them the token search
    assert sum(not a.root.base85 for a in answers) > 10_000


@pytest.mark.parametrize("text", [*_PIECES, "", "plain words only"])
def test_hints_agree_on_each_piece_alone_and_between_others(text: str) -> None:
    texts = ["plain", text, "words", text + " tail", "head " + text]
    assert [a.maybe for a in _answers(texts)] == [encoded_runs.maybe_encoded(t) for t in texts]


def test_a_text_holding_a_nul_falls_back_to_searching_every_text() -> None:
    texts = ["a\x00b", "AKIAIOSFODNN7EXAMPLE", "plain words", "%41"]
    assert peel_hints._hits(texts) is None
    assert [a.maybe for a in _answers(texts)] == [False, True, False, True]
    assert all(a.root.base85 for a in _answers(texts))  # unsure: base85 tokens are looked for


def test_too_many_hits_fall_back_to_searching_every_text() -> None:
    crowded = "%41" * (peel_hints.MAX_HINT_HITS + 10)
    texts = ["plain words", crowded, "AKIAIOSFODNN7EXAMPLE", "x y z"]
    assert peel_hints._hits(texts) is None
    assert [a.maybe for a in _answers(texts)] == [False, True, True, False]


def test_texts_not_to_peel_are_not_peeled_and_windows_keep_order() -> None:
    count = 2 * peel_hints.WINDOW_TEXTS + 7
    texts = ["%41" if i % 3 == 0 else "plain" for i in range(count)]
    answers = _answers(texts)
    assert [a.maybe for a in answers] == [i % 3 == 0 for i in range(count)]
    unpeeled = [hint for _, _, hint in peel_hints.with_peel_hints(_fields(texts, peel=False))]
    assert not any(a.maybe or a.root.base85 for a in unpeeled)


def test_the_base85_hint_needs_a_long_token_with_a_sign() -> None:
    assert _answers(["K}$(NGEYZYLP1D2Q&de&PFPM+"])[0].root.base85
    assert _answers(["x = K}$(NGEYZYLP1D2Q&de&PFPM+ y"])[0].root.base85
    assert not _answers(["abcdefghijklmnopqr(s"[:19]])[0].root.base85  # 19 characters
    assert not _answers(["abcdefghijklmnopqrstuvwxyz0123456789"])[0].root.base85  # no sign
    assert not _answers(["short(x); and(y); more(z);"])[0].root.base85  # signs, short words


# Encoded pieces whose peel yields variants, so that a hint that wrongly spares a search
# changes what peel yields: base64 (plain, glued after "=", wrapped into lines), hex bytes
# listed, bits, uuencode, a quoted-printable soft break, escapes, and runs of _ANY_RUN's
# characters with "=" inside that hold no run to decode.
_KEY = "AKIAQYLPMN5HFIQR7XYZ secret!"
_ENCODED = [
    base64.b64encode(_KEY.encode()).decode(),
    "data=" + base64.b64encode(_KEY.encode()).decode(),
    "\n".join(textwrap.wrap(base64.b64encode((_KEY * 3).encode()).decode(), 24)) + "\n",
    " ".join(f"{b:02x}" for b in _KEY.encode()),
    ", ".join(str(b) for b in _KEY.encode()),
    " ".join(f"{b:08b}" for b in _KEY.encode()),
    binascii.b2a_uu(_KEY.encode()).decode(),
    "AKIAQYLPMN5H=\nFIQR7XYZ word",
    "".join(f"\\x{b:02x}" for b in _KEY.encode()),
    "%u0041%u004b", "abcdefgh=ijklmnopqrst", "====================", "a=b=c=d=e=f=g=h=i=j",
    base64.b32encode(_KEY.encode()).decode(), _KEY.encode().hex(),
    " ".join(textwrap.wrap(base64.b64encode(_KEY.encode()).decode(), 4)),
    "\n".join(textwrap.wrap(base64.b64encode(_KEY.encode()).decode(), 8)),
]


def _mixed_texts(count: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    pieces = [*_PIECES, *_ENCODED]
    separators = ["", " ", "\n", "=", ":", "é", "—", "😀"]  # characters of 1 to 4 bytes
    return [rnd.choice(separators).join(rnd.choice(pieces) for _ in range(rnd.randint(1, 4)))
            for _ in range(count)]


def test_peeling_with_the_hints_yields_what_peeling_without_them_yields() -> None:
    texts = _mixed_texts(4000, seed=31) + [_four_times_base64(piece) for piece in _PIECES[:20]]
    peeled = 0
    refused = 0
    for text, _, hint in peel_hints.with_peel_hints(_fields(texts)):
        alone = _peel_all(text.text)
        hinted = _peel_all(text.text, maybe=hint.maybe, hints=hint.root)
        assert hinted == alone, text.text
        # and with its long variants hinted in turn, as the engine peels
        assert _peel_all(text.text, maybe=hint.maybe, hints=hint.root,
                         hinter=peel_hints.hint_of) == alone, text.text
        peeled += len(alone[0]) > 1
        refused += alone[1]
    assert peeled > 1000  # the texts have layers to find
    assert refused >= 20  # and some have one more than the depth bound (the same with hints)


def _four_times_base64(text: str) -> str:
    for _ in range(4):
        text = base64.b64encode(f"a note that says: {text}".encode()).decode()
    return f"see {text}"


def _peel_all(text: str, **hints: Any) -> tuple[list[layers.Layer], bool]:
    """What peel yields, and whether it then refused the text for its depth."""
    found: list[layers.Layer] = []
    try:
        found.extend(layers.peel(text, max_bytes=1 << 20, **hints))
    except DepthLimitExceeded:
        return found, True
    return found, False


def test_the_runs_to_decode_are_located_in_characters_in_any_text() -> None:
    texts = _mixed_texts(2000, seed=37)
    located = 0
    for group in range(0, len(texts), 40):  # few hits a pass: no fallback to unsure
        window = texts[group:group + 40]
        assert peel_hints._hits(window) is not None
        for text, hint in zip(window, _answers(window), strict=True):
            starts = tuple(match.start() for match in encoded_runs._ANY_RUN.finditer(text))
            if hint.maybe:
                assert hint.root.areas == starts, text
                located += bool(starts) and not text.isascii()
    assert located > 100  # in texts with characters of two bytes or more before their runs


@pytest.mark.parametrize("flag, text", [
    ("base85", "K}$(NGEYZYLP1D2Q&de&PFPM+"), ("escapes", "a\\x41b"), ("escapes", "%u0041"),
    ("listed", ", ".join(["65"] * 8)), ("binary", " ".join(["01000001"] * 8)),
    ("uu", binascii.b2a_uu(_KEY.encode()).decode()), ("quoted_printable", "ab=\ncd"),
    ("quoted_printable", "a=41=42=43"),
    ("grouped", "QUtJ QVFZ TFBN TjVI"),
], ids=["base85", "backslash-escape", "percent-u-escape", "listed", "binary", "uu",
        "soft-break", "qp-escapes", "grouped"])  # by case: a text may hold a fake key
def test_each_search_is_spared_only_where_its_pattern_cannot_match(flag: str, text: str) -> None:
    with_it, without = _answers(["x\n" + text + " y", "plain words, AKIAQYLPMN5HFIQR"])
    assert getattr(with_it.root, flag) and not getattr(without.root, flag)
