"""The clean-text cache: skips only what was found clean, never what held a finding."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterator
from typing import Any

import pytest

from proxy.inspection import engine
from proxy.inspection.clean_texts import CleanTexts
from proxy.inspection.decoders import Layer, peel
from proxy.inspection.engine import Text, inspect_texts
from proxy.inspection.findings import Match
from proxy.inspection.scanner import Scanner

KEY = b"k" * 32
AWS = "AKIAGVRZQ5CFT3DQ7XB7"


class CountingScanner(Scanner):
    """A real scanner that remembers which texts it was asked to scan."""

    def __init__(self) -> None:
        super().__init__()
        self.scanned: list[str] = []

    def scan_many_and_rewrites(  # type: ignore[override]
            self, texts: list[str]) -> tuple[list[list[Match]], list[tuple[int, str, list[Match]]]]:
        self.scanned += texts
        return super().scan_many_and_rewrites(texts)


@pytest.fixture()
def scanner() -> CountingScanner:
    return CountingScanner()


def detectors(texts: list[Text], scanner: Scanner, clean: CleanTexts) -> list[str]:
    inspection = inspect_texts(texts, scanner, KEY, max_depth=3, clean=clean)
    return sorted(f.detector for f in inspection.findings)


def test_a_clean_text_is_inspected_once(scanner: CountingScanner) -> None:
    clean = CleanTexts()
    texts = [Text("body:$.a", "just some prose about the build"),
             Text("body:$.b", "more prose here")]
    assert detectors(texts, scanner, clean) == []
    first = len(scanner.scanned)
    assert detectors(texts, scanner, clean) == []
    assert len(scanner.scanned) == first  # nothing scanned the second time
    assert len(clean) == 2


@pytest.mark.parametrize("text", [
    pytest.param(f"key {AWS}", id="plain"),
    pytest.param("data " + base64.b64encode(f"aws key {AWS}".encode()).decode(),
                 id="inside-a-layer"),
    pytest.param("name jane.doe@example.org", id="alert-level-email"),
])
def test_a_text_with_a_finding_is_never_remembered(scanner: CountingScanner, text: str) -> None:
    clean = CleanTexts()
    texts = [Text("body:$.a", text)]
    found = detectors(texts, scanner, clean)
    assert found
    assert detectors(texts, scanner, clean) == found
    assert len(clean) == 0


def test_clean_without_peeling_is_not_clean_with_peeling(scanner: CountingScanner) -> None:
    clean = CleanTexts()
    hidden = base64.b64encode(f"aws key {AWS}".encode()).decode()
    assert detectors([Text("body", hidden, peel=False)], scanner, clean) == []
    assert detectors([Text("body:$.a", hidden, peel=True)], scanner, clean) == ["aws_access_key"]


def test_a_text_whose_peeling_hit_its_limit_is_not_remembered(scanner: CountingScanner) -> None:
    clean = CleanTexts()
    # More distinct encoded runs than MAX_VARIANTS: peeling stops, the request is blocked.
    runs = " ".join(base64.b64encode(f"decoy number {n:05d}".encode()).decode()
                    for n in range(1100))
    inspection = inspect_texts([Text("body:$.a", runs)], scanner, KEY, max_depth=3, clean=clean)
    assert inspection.limit_reached
    assert len(clean) == 0


def test_the_cache_is_bounded_oldest_first() -> None:
    clean = CleanTexts(max_entries=3)
    digests = [clean.digest(f"text {n}", peel=True) for n in range(5)]
    for digest in digests:
        clean.add(digest)
    assert len(clean) == 3
    assert [d in clean for d in digests] == [False, False, True, True, True]


def test_zero_entries_turns_it_off(scanner: CountingScanner) -> None:
    clean = CleanTexts(max_entries=0)
    texts = [Text("body:$.a", "just some prose about the build")]
    detectors(texts, scanner, clean)
    detectors(texts, scanner, clean)
    assert len(clean) == 0
    assert scanner.scanned.count("just some prose about the build") == 2


def test_keys_hold_no_text() -> None:
    clean = CleanTexts()
    text = "hunter2 is not a password"
    assert "hunter2" not in repr(clean.digest(text, peel=True))
    assert clean.digest(text, peel=True) != clean.digest(text, peel=False)


def test_with_a_pinned_hash_seed_keys_are_keyed_blake2b(monkeypatch: pytest.MonkeyPatch) -> None:
    one, two = CleanTexts(), CleanTexts()
    for cache in (one, two):
        monkeypatch.setattr(cache, "_builtin_hash_is_secret", False)
    text = "hunter2 is not a password"
    assert one.digest(text, peel=True) != two.digest(text, peel=True)  # a key per cache
    assert isinstance(one.digest(text, peel=True), bytes)
    assert len(one.digest(text, peel=True)) == 16


def test_a_text_repeated_in_a_request_is_peeled_once_and_judged_in_each_place(
        scanner: CountingScanner, monkeypatch: pytest.MonkeyPatch) -> None:
    peeled: list[str] = []

    def counting_peel(text: str, **options: Any) -> Iterator[Layer]:
        peeled.append(text)
        return peel(text, **options)

    monkeypatch.setattr(engine, "peel", counting_peel)
    hidden = base64.b64encode(f"aws key {AWS}".encode()).decode()
    # one value in two channels: two findings (engine._most_specific)
    texts = [Text("header:x-call-id", hidden), Text("body:$.result.id", hidden)]
    inspection = inspect_texts(texts, scanner, KEY, max_depth=3, clean=CleanTexts())
    assert peeled == [hidden]
    assert sorted(f.location for f in inspection.findings) == ["body:$.result.id",
                                                                "header:x-call-id"]


# Past the peel limit: more runs than MAX_VARIANTS (a long text, peeled in each place), and
# a short text that decompresses past its budget (peeled once, its limit remembered).
_TOO_MANY_RUNS = " ".join(base64.b64encode(f"decoy number {n:05d}".encode()).decode()
                          for n in range(1100))
_SHORT_BOMB = base64.b64encode(gzip.compress(b"filler " * 200_000)).decode()


@pytest.mark.parametrize("runs", [_TOO_MANY_RUNS, _SHORT_BOMB], ids=["many-runs", "short-bomb"])
def test_a_repeated_text_whose_peeling_hit_its_limit_is_limited_in_each_place(
        scanner: CountingScanner, runs: str) -> None:
    clean = CleanTexts()
    texts = [Text("body:$.a", runs), Text("body:$.b", "prose"), Text("body:$.c", runs)]
    inspection = inspect_texts(texts, scanner, KEY, max_depth=3, clean=clean)
    assert inspection.limit_reached
    assert clean.digest(runs, peel=True) not in clean
    assert clean.digest("prose", peel=True) in clean
