"""UTF-16 and UTF-32 text inside a field (red team exfil5): percent-encoded bytes, a JSON
string of `\\u0000` escapes, NUL-interleaved characters in any channel. A key in it went
through every channel; whole bodies were read by their codec already."""

from __future__ import annotations

import json
import random
from urllib.parse import quote

import pytest

from proxy.inspection.engine import Text, inspect_texts
from proxy.inspection.layers import peel
from proxy.inspection.scanner import Scanner
from proxy.inspection.whole_text import MIN_WIDE_NULS, WIDE
from tests.corpus import fakes

SCANNER = Scanner()
RNG = random.Random(20261122)
GITHUB = fakes.github_token(RNG, "ghp_")
AWS = fakes.aws_access_key_id(RNG)
CODECS = ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"]


def _forms(raw: bytes) -> dict[str, str]:
    as_chars = raw.decode("latin-1")
    return {
        "percent-encoded query value": "q=" + quote(raw),
        "NUL-interleaved string": as_chars,
        "JSON escapes, parsed": json.loads(json.dumps(as_chars)),
        "inside prose": "see " + as_chars + " and more words" * 200,
        "form value with plus": "a=1&b=" + quote(raw).replace("%20", "+"),
    }


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize(("secret", "detector"), [(f"token={GITHUB}", "github_token"),
                                                  (AWS, "aws_access_key")],
                         ids=["github", "aws"])
def test_a_key_in_wide_text_is_found_in_every_form(codec: str, secret: str,
                                                   detector: str) -> None:
    for name, text in _forms(secret.encode(codec)).items():
        found = inspect_texts([Text("query:q", text)], SCANNER, b"k" * 32, max_depth=3)
        assert any(hit.finding.detector == detector and WIDE in hit.finding.layers
                   for hit in found.hits), name


def test_near_misses_are_not_read_as_wide_text() -> None:
    few = "a\x00b\x00c\x00d\x00e\x00f\x00g\x00"  # seven NULs: binary noise, not a text
    assert few.count("\x00") == MIN_WIDE_NULS - 1
    assert not any(WIDE in layer.layers for layer in peel(few, max_bytes=1 << 20))
    scattered = "a docstring with \x00 here and there " * 20  # twenty NULs, no wide run
    assert not any(WIDE in layer.layers for layer in peel(scattered, max_bytes=1 << 20))
    assert not any(WIDE in layer.layers for layer in peel("plain words " * 20,
                                                          max_bytes=1 << 20))
    # honest wide text is read, and holds nothing
    honest = "The build passed on main; merging now.".encode("utf-16")
    variants = list(peel(honest.decode("latin-1"), max_bytes=1 << 20))
    assert any(layer.layers == (WIDE,) and "build passed" in layer.text for layer in variants)
    assert inspect_texts([Text("body", honest.decode("latin-1"))], SCANNER, b"k" * 32,
                         max_depth=3).hits == ()
