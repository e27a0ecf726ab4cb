"""Layers deeper than `max_depth` (layers.peel): a text that holds one more layer of text below
the depth bound is refused (DepthLimitExceeded, the request blocked with `inspection_limit`),
after every variant within the bound was yielded. What was already found at a lower depth,
printable runs of binary, and `max_depth: 0` are not.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import random
import urllib.parse

import pytest

from proxy.inspection.decode_errors import DecodeLimitExceeded, DepthLimitExceeded
from proxy.inspection.engine import Text, inspect_texts
from proxy.inspection.layers import Layer, peel
from proxy.inspection.scanner import Scanner
from tests.corpus import fakes

_RNG = random.Random(3131)
AWS_KEY = fakes.aws_access_key_id(_RNG)
SECRET_LINE = f"aws_access_key_id = {AWS_KEY}"
BUDGET = 10 * 1024 * 1024
KEY = b"k" * 32


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def nested(text: str, times: int) -> str:
    for _ in range(times):
        text = b64(text)
    return text


def percent_all(text: str) -> str:
    return "".join(f"%{byte:02X}" for byte in text.encode())


def peeled(text: str, max_depth: int = 3) -> tuple[list[Layer], bool]:
    """The variants peel yields, and whether it then refused the text for its depth."""
    variants: list[Layer] = []
    try:
        for variant in peel(text, max_depth=max_depth, max_bytes=BUDGET):
            variants.append(variant)
    except DepthLimitExceeded:
        return variants, True
    return variants, False


DEEPER = [
    (nested(SECRET_LINE, 4), 3),
    (nested(SECRET_LINE, 5), 3),
    (nested(SECRET_LINE, 3), 2),
    (nested(SECRET_LINE, 2), 1),
    (nested(percent_all(SECRET_LINE), 3), 3),  # the fourth layer a whole-text decoding
    (nested(b64(gzip.compress(SECRET_LINE.encode())), 3), 3),  # base64 of gzip, fourth
    (json.dumps({"note": nested(SECRET_LINE, 4)}), 3),  # inside other text
    (nested(SECRET_LINE.encode().hex(), 3), 3),  # hex at the bottom
    (urllib.parse.quote(nested(SECRET_LINE, 4)), 3),  # percent on top: four base64 below it
]


@pytest.mark.parametrize(("text", "max_depth"), DEEPER, ids=[
    "base64-four-times-at-three", "base64-five-times-at-three", "base64-three-times-at-two",
    "base64-twice-at-one", "percent-then-base64-three-times", "gzip-base64-under-three",
    "inside-json-text", "hex-under-three-base64", "percent-over-four-base64"])
def test_a_layer_of_text_below_the_depth_bound_is_refused(text: str, max_depth: int) -> None:
    variants, refused = peeled(text, max_depth)
    assert refused
    assert max(len(v.layers) for v in variants) >= max_depth  # went as deep as allowed first
    assert SECRET_LINE not in {v.text for v in variants}


def test_the_refusal_is_a_decode_limit_for_callers_that_block_on_one() -> None:
    assert issubclass(DepthLimitExceeded, DecodeLimitExceeded)


WITHIN = [
    (nested(SECRET_LINE, 3), 3),
    (nested(SECRET_LINE, 1), 1),
    (nested(percent_all(SECRET_LINE), 2), 3),
    # below the bound only binary: a hash, random bytes, an image's printable runs
    (nested(hashlib.sha256(b"x").hexdigest(), 3), 3),
    (nested(b64(_RNG.randbytes(48)), 3), 3),
    (nested(b64(b"\x89PNG\r\n\x1a\n" + _RNG.randbytes(40) + b"IHDR and some printable text"
                + _RNG.randbytes(40)), 3), 3),
    # a long text whose base64 runs are found at depth 1: its copy with three whole-text
    # decodings applied (percent, escapes, html) sits at depth 3 and holds the same runs
    ("see %41 and \\x42 and &amp; then " + b64("the same run, found at depth one") + " ok", 3),
    ("plain words, nothing encoded here at all", 3),
    # printable runs of binary that hold an escape by chance, which decodes to no text: an
    # animated GIF's frames (red team, 2026-11-22)
    (nested(b64(_RNG.randbytes(40) + b"v6efFcf%c6T`e%TU5RU and &#xd7;zz" + _RNG.randbytes(40)),
            2), 3),
]


@pytest.mark.parametrize(("text", "max_depth"), WITHIN, ids=[
    "base64-three-times-at-three", "base64-once-at-one", "percent-and-two-base64-at-three",
    "hash-under-three-base64", "random-bytes-under-three", "image-runs-under-three",
    "whole-text-copy-with-runs-found-higher", "plain-words", "binary-runs-with-a-chance-escape"])
def test_nothing_new_below_the_depth_bound_is_not_refused(text: str, max_depth: int) -> None:
    _, refused = peeled(text, max_depth)
    assert not refused


def test_depth_zero_peels_nothing_and_refuses_nothing() -> None:
    """`max_depth: 0` is the operator turning peeling off: hidden layers are not looked for."""
    assert peeled(nested(SECRET_LINE, 4), max_depth=0) == ([Layer(nested(SECRET_LINE, 4), ())],
                                                           False)


def test_the_deeper_texts_are_charged_to_the_budget() -> None:
    """Texts kept for the check at the end count against the peel's budget like variants."""
    text = nested(SECRET_LINE, 4)
    within, _ = peeled(text)
    spent = sum(len(v.text) for v in within[1:])
    with pytest.raises(DecodeLimitExceeded) as refused:
        list(peel(text, max_depth=3, max_bytes=spent + len(SECRET_LINE) // 2))
    assert not isinstance(refused.value, DepthLimitExceeded)  # over budget, before the end
    within_budget, refused_for_depth = peeled(text)
    assert refused_for_depth and within_budget == within


def test_the_request_is_refused_with_the_limit_and_findings_within_the_bound_kept() -> None:
    """A key within the bound is reported even when the same text goes deeper elsewhere."""
    scanner = Scanner()
    deep = Text("body:$.deep", nested(SECRET_LINE, 4))
    inspection = inspect_texts([deep], scanner, KEY, max_depth=3)
    assert inspection.limit_reached and inspection.hits == ()
    other = fakes.aws_access_key_id(_RNG)
    both = Text("body:$.both", f"{b64(other)} {nested(SECRET_LINE, 4)}")
    inspection = inspect_texts([both], scanner, KEY, max_depth=3)
    assert inspection.limit_reached
    assert [(h.finding.detector, h.finding.layers) for h in inspection.hits] == [
        ("aws_access_key", ("base64",))]
