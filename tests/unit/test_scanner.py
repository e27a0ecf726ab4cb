"""The one-pass scanner: exact offsets (str and bytes), dedup, the candidate cap, the fallback."""

from __future__ import annotations

import logging
import random
import re
import string

import pytest

from proxy.inspection import scanner as scanner_module
from proxy.inspection.detectors import DETECTORS_BY_ID, SCAN_LIMIT_ID
from proxy.inspection.findings import Match
from proxy.inspection.scanner import MAX_CANDIDATES_PER_SCAN, Scanner

_RNG = random.Random(7)
B62 = string.ascii_letters + string.digits


def rand(n: int, alphabet: str = B62) -> str:
    return "".join(_RNG.choices(alphabet, k=n))


AWS_KEY = "AKIA" + rand(16, string.ascii_uppercase + string.digits)
GITHUB = "ghp_" + rand(36)
ANTHROPIC = "sk-ant-api03-" + rand(93, B62 + "-_") + "AA"
CARD = "4556 7375 8689 9855"  # Luhn-valid, not a published test number
EMAIL = "jane.doe@example.org"


def found(matches: list[Match]) -> list[tuple[str, str]]:
    return [(m.detector, m.value) for m in matches]


def assert_exact(text: str, matches: list[Match]) -> None:
    for m in matches:
        assert text[m.start : m.end] == m.value, m.detector


def test_one_pass_finds_every_detector_with_exact_offsets(scanner: Scanner) -> None:
    text = (
        f'{{"aws": "{AWS_KEY}", "note": "mail {EMAIL} or pay {CARD}",\n'
        f' "gh": "{GITHUB}", "llm": "{ANTHROPIC}", "ssn": "536-22-1234"}}'
    )
    matches = scanner.scan(text)
    assert_exact(text, matches)
    assert found(matches) == [
        ("aws_access_key", AWS_KEY),
        ("email", EMAIL),
        ("payment_card", CARD),
        ("github_token", GITHUB),
        ("anthropic_api_key", ANTHROPIC),
        ("us_ssn", "536-22-1234"),
    ]
    assert [m.start for m in matches] == sorted(m.start for m in matches)


def test_empty_text(scanner: Scanner) -> None:
    assert scanner.scan("") == []
    assert scanner.scan_bytes(b"") == []


@pytest.mark.parametrize(
    "prefix",
    [
        pytest.param("héllo wörld ", id="latin1-accents"),
        pytest.param("日本語のテキスト ", id="cjk-3-byte"),
        pytest.param("emoji 🙂🚀 ", id="astral-4-byte"),
        pytest.param("e\u0301 combining ", id="combining-mark"),
        pytest.param("lone \ud800 surrogate ", id="lone-surrogate"),
    ],
)
def test_offsets_are_str_offsets_after_unicode(scanner: Scanner, prefix: str) -> None:
    text = f"{prefix}key={AWS_KEY} ✓ {prefix}{EMAIL}"
    matches = scanner.scan(text)
    assert_exact(text, matches)
    assert found(matches) == [("aws_access_key", AWS_KEY), ("email", EMAIL)]


def test_scan_bytes_returns_byte_offsets(scanner: Scanner) -> None:
    data = f"ünïcode {GITHUB} then \xff".encode("utf-8", "surrogateescape") + b"\xff\xfe " + (
        EMAIL.encode()
    )
    matches = scanner.scan_bytes(data)
    assert found(matches) == [("github_token", GITHUB), ("email", EMAIL)]
    for m in matches:
        assert data[m.start : m.end] == m.value.encode()


def test_secret_in_non_ascii_value_keeps_exact_span(scanner: Scanner) -> None:
    password = "Zx9qW2rT5yU8iO1pÅø"  # non-ASCII inside the value itself
    text = f"ñ password={password} ñ"
    matches = [m for m in scanner.scan(text) if m.detector == "high_entropy_assignment"]
    assert_exact(text, matches)
    assert found(matches) == [("high_entropy_assignment", password)]


def test_adjacent_tokens_sharing_a_boundary_are_both_found(scanner: Scanner) -> None:
    second = "AKIA" + rand(16, string.ascii_uppercase + string.digits)
    text = f"{AWS_KEY},{second}"
    assert found(scanner.scan(text)) == [("aws_access_key", AWS_KEY), ("aws_access_key", second)]


def test_overlapping_matches_of_one_detector_are_reported_once(scanner: Scanner) -> None:
    """An OpenAI project key holding the legacy marker matches both OpenAI patterns."""
    key = "sk-proj-" + rand(40) + "T3BlbkFJ" + rand(40)
    matches = scanner.scan(f"key {key}")
    assert found(matches) == [("openai_api_key", key)]


def test_longest_valid_candidate_wins(scanner: Scanner) -> None:
    """Spaced IBAN followed by an uppercase word: the longer candidate fails mod-97."""
    text = "IBAN DE89 3704 0044 0532 0130 00 EUR"
    assert found(scanner.scan(text)) == [("iban", "DE89 3704 0044 0532 0130 00")]


def test_pem_block_value_runs_to_end_line(scanner: Scanner) -> None:
    body = "\n".join(rand(64, B62 + "+/") for _ in range(10))
    armour = "-" * 5  # assembled, so no key header sits in this file for scanners to flag
    begin = f"{armour}BEGIN OPENSSH PRIVATE KEY{armour}"
    end = f"{armour}END OPENSSH PRIVATE KEY{armour}"
    key = f"{begin}\n{body}\n{end}"
    text = f"here:\n{key}\nand a second one:\n{key}\n"
    matches = scanner.scan(text)
    assert_exact(text, matches)
    assert found(matches) == [("private_key", key), ("private_key", key)]


def test_candidate_cap_reports_scan_limit(scanner: Scanner) -> None:
    text = " ".join(f"u{i}@example.org" for i in range(MAX_CANDIDATES_PER_SCAN + 100))
    matches = scanner.scan(text)
    limit = [m for m in matches if m.detector == SCAN_LIMIT_ID]
    assert len(limit) == 1
    assert limit[0].value == "" and limit[0].start == limit[0].end < len(text)
    emails = [m for m in matches if m.detector == "email"]
    assert 0 < len(emails) <= MAX_CANDIDATES_PER_SCAN
    assert_exact(text, matches)


def test_cap_is_read_at_scan_time(scanner: Scanner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scanner_module, "MAX_CANDIDATES_PER_SCAN", 3)
    matches = scanner.scan(" ".join([AWS_KEY] * 10))
    assert [m.detector for m in matches].count("aws_access_key") <= 3
    assert matches[-1].detector == SCAN_LIMIT_ID


def test_below_the_cap_there_is_no_scan_limit(scanner: Scanner) -> None:
    text = " ".join(f"u{i}@example.org" for i in range(100))
    assert SCAN_LIMIT_ID not in {m.detector for m in scanner.scan(text)}


def test_hostile_repetition_completes(scanner: Scanner) -> None:
    """A million fake candidates: bounded by the cap (no timing assertion: see bench/)."""
    matches = scanner.scan("4111 1111 1111 1111 " * 100_000)
    assert matches[-1].detector == SCAN_LIMIT_ID


def test_five_megabytes_complete_and_find_a_secret_at_the_end(scanner: Scanner) -> None:
    line = '{"role": "user", "content": "please review build 1.2.3 on 2024-01-15 ☕"}\n'
    text = line * (5 * 1024 * 1024 // len(line.encode())) + f"see {GITHUB}\n"
    assert len(text.encode()) >= 5 * 1024 * 1024
    matches = scanner.scan(text)
    assert found(matches) == [("github_token", GITHUB)]
    assert_exact(text, matches)


def test_subset_of_detectors(scanner: Scanner) -> None:
    only_email = Scanner([DETECTORS_BY_ID["email"]])
    text = f"{AWS_KEY} {EMAIL}"
    assert found(only_email.scan(text)) == [("email", EMAIL)]


def test_fallback_without_hyperscan(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, scanner: Scanner
) -> None:
    monkeypatch.setattr(scanner_module, "hyperscan", None)
    with caplog.at_level(logging.WARNING, logger=scanner_module.__name__):
        fallback = Scanner()
    assert fallback.engine == "re"
    assert "hyperscan unavailable" in caplog.text
    text = f"é {AWS_KEY},{AWS_KEY[:-1]}Z mail {EMAIL} card {CARD} key {ANTHROPIC}"
    assert found(fallback.scan(text)) == found(scanner.scan(text))
    assert len(found(fallback.scan(text))) == 5


def test_engine_is_hyperscan(scanner: Scanner) -> None:
    assert scanner.engine == "hyperscan"


def _corpus_texts() -> list[str]:
    from proxy.inspection.evaluate import load_corpus
    from proxy.inspection.layers import peel

    texts: list[str] = []
    for entry in load_corpus():
        texts += [layer.text for layer in peel(entry.text, max_bytes=1 << 20)]
    return texts


# Values alone, with nothing around them: the text's start and end are their only boundaries.
BARE_VALUES = [AWS_KEY, GITHUB, ANTHROPIC, CARD, EMAIL, "", "\n", "x", "AKIA", "-----BEGIN"]


@pytest.mark.parametrize("group", [1, 2, 3, 7, 50])
def test_scan_many_finds_what_a_scan_per_text_finds(scanner: Scanner, group: int) -> None:
    """The joined pass may only skip texts with nothing in them, in any grouping and order."""
    texts = _corpus_texts() + BARE_VALUES
    _RNG.shuffle(texts)
    for first in range(0, len(texts), group):
        batch = texts[first : first + group]
        assert scanner.scan_many(batch) == [scanner.scan(text) for text in batch]


def test_scan_many_attributes_a_value_ending_a_text_to_that_text(scanner: Scanner) -> None:
    texts = ["a note", AWS_KEY, "then more", f"key {GITHUB}", EMAIL]
    results = scanner.scan_many(texts)
    assert [found(r) for r in results] == [
        [], [("aws_access_key", AWS_KEY)], [], [("github_token", GITHUB)], [("email", EMAIL)],
    ]


def test_scan_many_with_the_candidate_cap_reached_scans_each_text(
        scanner: Scanner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scanner_module, "MAX_CANDIDATES_PER_SCAN", 3)
    texts = [f"{n}: 4556 7375 8689 9855" for n in range(5)] + [AWS_KEY]
    assert scanner.scan_many(texts) == [scanner.scan(text) for text in texts]


def test_every_pattern_edge_accepts_the_separator_like_a_text_edge() -> None:
    """scan_many relies on it: an edge written `(?:[^...]|$)` whose class refuses the separator
    would match at a text's end alone but not inside the joined pass."""
    from proxy.inspection.detectors import ALL_DETECTORS
    from proxy.inspection.scanner import SEPARATOR

    edges = 0
    for detector in ALL_DETECTORS:
        for pattern in detector.patterns:
            for edge in re.finditer(r"\[\^([^\]]*)\]\|\$|\$\|\[\^([^\]]*)\]", pattern):
                edges += 1
                refused = edge.group(1) or edge.group(2) or ""
                assert not re.search(f"[{refused}]", SEPARATOR), (detector.id, edge.group())
                assert "\\s" not in refused, (detector.id, edge.group())
            for edge in re.finditer(r"\(\?:\^\|\[([^\]^][^\]]*)\]", pattern):  # (?:^|[...])
                assert re.fullmatch(f"[{edge.group(1)}]", SEPARATOR), (detector.id, edge.group())
    assert edges >= 40  # the edges were found: the check is not vacuous
