"""Score the detectors on the labelled corpus.

Usage: `python -m proxy.inspection.evaluate [--corpus PATH]`.

Every entry is peeled (`layers.peel`, depth 3) and each layer scanned. A positive is found when
its expected detector (or a documented alias) matches in any layer; a negative is a false positive
when any detector matches in any layer. Prints recall per detector and per encoding, the
false-positive rate, and the ids of what was missed; never a matched value. Exits 1 when a target
is missed (recall >= 0.98 on plain and on single-layer encoded entries, false positives <= 1%).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from proxy.inspection.byte_readings import reads_personal_data
from proxy.inspection.decode_errors import DecodeLimitExceeded
from proxy.inspection.detectors import DETECTORS_BY_ID
from proxy.inspection.findings import Kind, Match
from proxy.inspection.layers import peel
from proxy.inspection.scanner import Scanner
from proxy.inspection.transforms import TRANSFORMS, reported_in_rewrite

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "tests" / "corpus" / "corpus.jsonl"
MAX_DEPTH = 3
MAX_BYTES = 10 * 1024 * 1024  # decoded text per entry: the default body limit
# Reported when peel gives up (DecodeLimitExceeded): the proxy blocks such a request, so it counts
# against a negative, but finds no positive.
DECODE_LIMIT = "decode_limit"
TARGET_RECALL = 0.98
TARGET_FP_RATE = 0.01

# Other ids accepted as finding an expected detector. Empty: each family must be reported under
# its own id (a GCP key file caught only as `private_key` is a gcp_service_account miss).
ALIASES: Mapping[str, frozenset[str]] = MappingProxyType({})

# Distinct values a detector must report in one entry before it counts, mirroring the PII
# thresholds of the rules (count per type per request): one email in a commit is normal,
# a customer list is not. Detectors not listed count from one match.
MIN_COUNT: Mapping[str, int] = MappingProxyType({"email": 2})


class TextScanner(Protocol):
    """What `evaluate` needs of a scanner (`scanner.Scanner` in production)."""

    def scan(self, text: str) -> Sequence[Match]: ...


@dataclass(frozen=True)
class CorpusEntry:
    """One labelled text of the corpus (see tests/corpus/generate.py)."""

    id: str
    label: str
    detector: str | None
    encoding: str
    carrier: str
    text: str

    @property
    def positive(self) -> bool:
        return self.label == "positive"


@dataclass(frozen=True)
class Outcome:
    """The detector ids that fired on one entry, after the MIN_COUNT thresholds."""

    entry: CorpusEntry
    reported: frozenset[str]

    @property
    def found(self) -> bool:
        """A positive whose expected detector, or an alias of it, fired."""
        expected = self.entry.detector
        if expected is None:
            return False
        return bool(self.reported & ({expected} | ALIASES.get(expected, frozenset())))

    @property
    def flagged(self) -> bool:
        """Anything fired at all (a false positive when the entry is a negative)."""
        return bool(self.reported)


@dataclass(frozen=True)
class Ratio:
    """hits out of total, with the rate."""

    hits: int
    total: int

    @property
    def rate(self) -> float:
        return self.hits / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"{self.hits}/{self.total} = {self.rate:.3f}"


@dataclass(frozen=True)
class Report:
    """All outcomes of one run, with the figures the targets are judged on."""

    outcomes: tuple[Outcome, ...]

    @property
    def positives(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.entry.positive]

    @property
    def negatives(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.entry.positive]

    def recall(self, *, encoded: bool) -> Ratio:
        """Recall over plain entries, or over single-layer encoded ones."""
        group = [o for o in self.positives if (o.entry.encoding != "plain") == encoded]
        return Ratio(sum(o.found for o in group), len(group))

    def fp_rate(self) -> Ratio:
        """Negatives on which any detector fired, over all negatives."""
        return Ratio(sum(o.flagged for o in self.negatives), len(self.negatives))

    def missed(self) -> list[Outcome]:
        return [o for o in self.positives if not o.found]

    def false_positives(self) -> list[Outcome]:
        return [o for o in self.negatives if o.flagged]

    def passed(self) -> bool:
        """Whether every target holds."""
        recalls = (self.recall(encoded=False), self.recall(encoded=True))
        recall_ok = all(r.rate >= TARGET_RECALL for r in recalls)
        return recall_ok and self.fp_rate().rate <= TARGET_FP_RATE


def load_corpus(path: Path = DEFAULT_CORPUS) -> list[CorpusEntry]:
    """Read a JSON Lines corpus."""
    with path.open(encoding="utf-8") as f:
        return [CorpusEntry(**json.loads(line)) for line in f if line.strip()]


def detect(scanner: TextScanner, text: str) -> frozenset[str]:
    """Detector ids matching in any peeled layer of `text` or, for the secret detectors each
    rewrite looks for, in its rewrites (as the proxy looks: transforms.py), with MIN_COUNT
    applied."""
    values: dict[str, set[str]] = defaultdict(set)
    try:
        for layer in peel(text, max_depth=MAX_DEPTH, max_bytes=MAX_BYTES):
            personal = reads_personal_data(layer.layers)  # as the proxy (engine._add_hits)
            for match in scanner.scan(layer.text):
                if personal or DETECTORS_BY_ID[match.detector].kind is not Kind.PII:
                    values[match.detector].add(match.value)
            for name, rewrite in TRANSFORMS.items():
                for match in scanner.scan(rewrite(layer.text)):
                    if reported_in_rewrite(name, DETECTORS_BY_ID[match.detector], match.value):
                        values[match.detector].add(match.value)
    except DecodeLimitExceeded:
        values[DECODE_LIMIT].add("")
    return frozenset(d for d, seen in values.items() if len(seen) >= MIN_COUNT.get(d, 1))


def evaluate(entries: Iterable[CorpusEntry], scanner: TextScanner | None = None) -> Report:
    """Run every entry through peel + scan."""
    scanner = scanner or Scanner()
    return Report(tuple(Outcome(e, detect(scanner, e.text)) for e in entries))


def _detector_rows(report: Report) -> list[str]:
    """One line per detector: positives, found, recall, negatives flagged, FP rate."""
    ids = sorted({o.entry.detector for o in report.positives if o.entry.detector}
                 | {d for o in report.negatives for d in o.reported})  # fmt: skip
    total_neg = len(report.negatives)
    rows = [f"{'detector':<26} {'pos':>4} {'found':>5} {'recall':>7} {'FP':>4} {'FP rate':>8}"]
    for det in ids:
        group = [o for o in report.positives if o.entry.detector == det]
        found = sum(o.found for o in group)
        recall = f"{found / len(group):.3f}" if group else "-"
        fps = sum(det in o.reported for o in report.negatives)
        fp_rate = fps / total_neg if total_neg else 0.0
        rows.append(f"{det:<26} {len(group):>4} {found:>5} {recall:>7} {fps:>4} {fp_rate:>8.4f}")
    return rows


def _encoding_rows(report: Report) -> list[str]:
    """Recall for each encoding, and negatives flagged in each."""
    rows = []
    for enc in sorted({o.entry.encoding for o in report.outcomes}):
        pos = [o for o in report.positives if o.entry.encoding == enc]
        neg = [o for o in report.negatives if o.entry.encoding == enc]
        recall = Ratio(sum(o.found for o in pos), len(pos))
        fps = Ratio(sum(o.flagged for o in neg), len(neg))
        rows.append(f"  {enc:<12} recall {recall}   negatives flagged {fps}")
    return rows


def _entry_line(outcome: Outcome) -> str:
    """An entry by id, detector, encoding and carrier; never its text."""
    e = outcome.entry
    got = ",".join(sorted(outcome.reported)) or "-"
    where = f"encoding={e.encoding} carrier={e.carrier}"
    return f"  {e.id}  detector={e.detector or '-'} {where} reported={got}"


def format_report(report: Report) -> str:
    """The full human-readable report."""
    fp = report.fp_rate()
    lines = [*_detector_rows(report), "", "by encoding:", *_encoding_rows(report), ""]
    target = f"(target >= {TARGET_RECALL})"
    lines += [
        f"recall, plain:                {report.recall(encoded=False)}  {target}",
        f"recall, single-layer encoded: {report.recall(encoded=True)}  {target}",
        f"false positives:              {fp}  (target <= {TARGET_FP_RATE})",
    ]
    if missed := report.missed():
        lines += ["", f"missed positives ({len(missed)}):", *map(_entry_line, missed)]
    if fps := report.false_positives():
        lines += ["", f"false positives ({len(fps)}):", *map(_entry_line, fps)]
    lines += ["", "targets met" if report.passed() else "TARGETS MISSED"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Evaluate the corpus, print the report, return 0 when every target is met."""
    parser = argparse.ArgumentParser(
        prog="python -m proxy.inspection.evaluate",
        description="Recall and false positives of peel + scan on the labelled corpus.",
    )
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="JSON Lines corpus")
    args = parser.parse_args(argv)
    report = evaluate(load_corpus(args.corpus))
    print(format_report(report))
    return 0 if report.passed() else 1


if __name__ == "__main__":
    sys.exit(main())
