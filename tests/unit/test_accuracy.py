"""The accuracy gate: recall and false positives of peel + scan on the labelled corpus.

Run `python -m proxy.inspection.evaluate` for the full report (per detector, per encoding, misses).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from proxy.inspection.evaluate import (
    TARGET_FP_RATE,
    TARGET_RECALL,
    CorpusEntry,
    Report,
    evaluate,
    format_report,
    load_corpus,
)
from proxy.inspection.findings import Match


@pytest.fixture(scope="module")
def report() -> Report:
    return evaluate(load_corpus())


def _missed(report: Report, *, encoded: bool) -> list[str]:
    return [o.entry.id for o in report.missed() if (o.entry.encoding != "plain") == encoded]


def test_recall_on_plain_secrets(report: Report) -> None:
    recall = report.recall(encoded=False)
    assert recall.total >= 50
    assert recall.rate >= TARGET_RECALL, f"{recall}; missed {_missed(report, encoded=False)}"


def test_recall_on_single_layer_encoded_secrets(report: Report) -> None:
    recall = report.recall(encoded=True)
    assert recall.total >= 250
    assert recall.rate >= TARGET_RECALL, f"{recall}; missed {_missed(report, encoded=True)}"


def test_false_positive_rate(report: Report) -> None:
    fp = report.fp_rate()
    flagged = [(o.entry.id, sorted(o.reported)) for o in report.false_positives()]
    assert fp.total >= 200
    assert fp.rate <= TARGET_FP_RATE, f"{fp}; flagged {flagged}"


# --- the scoring itself, with stand-in scanners ---------------------------------------------


class _WholeText:
    """Reports the whole text as one match of `detector`."""

    def __init__(self, detector: str) -> None:
        self.detector = detector

    def scan(self, text: str) -> Sequence[Match]:
        return [Match(detector=self.detector, start=0, end=len(text), value=text)]


class _EachWord(_WholeText):
    """Reports each space-separated word as a match of `detector`."""

    def scan(self, text: str) -> Sequence[Match]:
        return [Match(detector=self.detector, start=0, end=1, value=w) for w in text.split()]


def _entry(label: str, detector: str | None, text: str) -> CorpusEntry:
    return CorpusEntry(
        id=f"{label}-x", label=label, detector=detector, encoding="plain", carrier="chat", text=text
    )


def test_report_names_entries_never_values() -> None:
    entries = [
        _entry("positive", "jwt", "VALUE-OF-A-MISSED-SECRET"),
        _entry("negative", None, "VALUE-OF-A-FALSE-POSITIVE"),
    ]
    report = evaluate(entries, _WholeText("github_token"))
    text = format_report(report)
    assert [o.entry.id for o in report.missed()] == ["positive-x"]
    assert [o.entry.id for o in report.false_positives()] == ["negative-x"]
    assert "positive-x" in text and "negative-x" in text and "TARGETS MISSED" in text
    assert "VALUE-OF" not in text


def test_a_positive_counts_only_under_its_own_detector() -> None:
    entries = [_entry("positive", "jwt", "a"), _entry("positive", "jwt", "b")]
    assert evaluate(entries, _WholeText("jwt")).recall(encoded=False).rate == 1.0
    assert evaluate(entries, _WholeText("private_key")).recall(encoded=False).rate == 0.0


def test_one_email_is_below_the_threshold_two_are_not() -> None:
    one = evaluate([_entry("negative", None, "a a")], _EachWord("email"))
    two = evaluate([_entry("negative", None, "a b")], _EachWord("email"))
    assert one.false_positives() == []
    assert [o.entry.id for o in two.false_positives()] == ["negative-x"]
