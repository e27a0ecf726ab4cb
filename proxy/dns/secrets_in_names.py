"""Secrets split across the labels of a name, for masking the audit line's `name`.

The scrubber run over the dotted name finds `<secret>.attacker.example`, but not a token cut
into short labels (`ghp_A1b2C3d4.E5f6G7h8....attacker.example`) or split by hyphens. So the
labels of the name (all of them: a key's last piece can be the registered domain of a name that
is not allowed) are scanned dotted, joined without dots, and joined without dots and hyphens:
what they cover is masked in the log, and a credential there refuses the name
(proxy/dns/decide.py). Detectors want a boundary around a token, so every run of labels that
starts at the first label or ends at the last one is scanned (a linear number of texts, at most
`MAX_LABELS` each way). A match masks every label it covers. A JWT loses the dots it needs when
its labels are joined: the joined labels are also read for one (proxy/inspection/split_jwt.py).

Cost: every text of a name goes to `find` in one call, so a detector scan is one pass over all
of them (Scanner.scan_many), not a pass per text: a name of 30 short labels makes about 120
texts. The texts hold about (labels x characters) characters in all; `scanned_characters` says
how many, for charging the client by it (proxy/dns/service.py).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate

from proxy.inspection.split_jwt import DETECTOR as JWT
from proxy.inspection.split_jwt import glued_jwt_spans

# texts -> for each text, (start, end, detector) of each value a detector finds in it
FindSecrets = Callable[[Sequence[str]], Sequence[Sequence[tuple[int, int, str]]]]
MAX_LABELS = 32  # runs scanned each way; a name has at most 127 labels
# a piece of a token's base64url: an upper-case letter is what a host's label does not have
_SIGNATURE_PIECE = re.compile(r"[A-Za-z0-9_-]*[A-Z][A-Za-z0-9_-]*")


@dataclass(frozen=True, slots=True)
class _Joined:
    """Every label joined by `joiner`; `starts`: where each label begins in `text`."""

    text: str
    starts: tuple[int, ...]
    sizes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _Run:
    """Labels [first, end) of a joined name: a slice of its text (no join per run)."""

    joined: _Joined
    first: int
    end: int
    text: str

    def cover(self, start: int, end: int, detector: str, covered: dict[int, str]) -> int:
        """Mark each label [start, end) of the run's text touches (not a dot between two);
        return the last one it touches, or -1."""
        starts, sizes = self.joined.starts, self.joined.sizes
        base = starts[self.first]
        low = max(self.first, bisect_right(starts, base + max(0, start), self.first, self.end) - 1)
        high = bisect_right(starts, base + max(0, end - 1), self.first, self.end)
        last = -1
        for label in range(low, high):
            offset = starts[label] - base
            if offset < end and start < offset + sizes[label]:
                covered.setdefault(label, detector)
                last = label
        return last


def secret_labels(labels: tuple[bytes, ...], find: FindSecrets) -> dict[int, str]:
    """Index of each label a secret found in a run of joined labels covers -> the detector."""
    covered: dict[int, str] = {}
    texts = [label.decode("latin-1") for label in labels]
    runs = _runs(texts)
    for run, found in zip(runs, find([run.text for run in runs]), strict=True):
        for start, end, detector in found:
            run.cover(start, end, detector, covered)
    for run in _whole(texts):
        for start, end in glued_jwt_spans(run.text):
            last = run.cover(start, end, JWT, covered)
            # The signature has no shape to check: the mixed-case labels right after the
            # payload are its pieces (a name's own labels are written in lower case).
            for label in range(last + 1, len(texts)):
                if not _SIGNATURE_PIECE.fullmatch(texts[label]):
                    break
                covered.setdefault(label, JWT)
    return covered


def scanned_characters(labels: tuple[bytes, ...]) -> int:
    """Characters of the texts `secret_labels` scans for `labels` (what its work grows with),
    counted without building them."""
    count = len(labels)
    plain = list(accumulate((len(label) for label in labels), initial=0))
    dropped = list(accumulate((len(label) - label.count(b"-") for label in labels), initial=0))
    hyphens = [index for index, label in enumerate(labels) if b"-" in label]
    total = plain[-1] + max(0, count - 1)  # the dotted name
    for start, end in _spans(count):
        total += plain[end] - plain[start]
        if _has_hyphen(hyphens, start, end):
            total += dropped[end] - dropped[start]
    return total


def _spans(count: int) -> list[tuple[int, int]]:
    """[start, end) of each run of labels joined: those that start at the first label or end
    at the last one, at most MAX_LABELS each way."""
    spans = {(0, count)}
    spans.update((0, end) for end in range(2, min(count, MAX_LABELS) + 1))
    spans.update((start, count) for start in range(max(0, count - MAX_LABELS), count - 1))
    return sorted(spans)


def _has_hyphen(hyphens: list[int], start: int, end: int) -> bool:
    """Whether a label in [start, end) has a hyphen; `hyphens`: those that do, in order."""
    first = bisect_left(hyphens, start)
    return first < len(hyphens) and hyphens[first] < end


def _runs(texts: list[str]) -> list[_Run]:
    """The dotted name first, then each run of labels joined, hyphens kept and then dropped
    (only where a label of the run has one)."""
    count = len(texts)
    spans = _spans(count)
    runs = [_run(_joined(texts, joiner="."), 0, count)]  # each label whole, dots as boundaries
    plain = _joined(texts)
    runs += [_run(plain, start, end) for start, end in spans]
    hyphens = [index for index, text in enumerate(texts) if "-" in text]
    if hyphens:
        dropped = _joined([text.replace("-", "") for text in texts])
        runs += [_run(dropped, start, end) for start, end in spans
                 if _has_hyphen(hyphens, start, end)]
    return runs


def _whole(texts: list[str]) -> list[_Run]:
    """Every label joined without dots, hyphens kept, and dropped when there are some."""
    whole = [_run(_joined(texts), 0, len(texts))]
    if any("-" in text for text in texts):
        whole.append(_run(_joined([text.replace("-", "") for text in texts]), 0, len(texts)))
    return whole


def _joined(parts: list[str], *, joiner: str = "") -> _Joined:
    starts: list[int] = []
    offset = 0
    for part in parts:
        starts.append(offset)
        offset += len(part) + len(joiner)
    return _Joined(joiner.join(parts), tuple(starts), tuple(len(part) for part in parts))


def _run(joined: _Joined, first: int, end: int) -> _Run:
    if first >= end:
        return _Run(joined, first, end, "")
    stop = joined.starts[end - 1] + joined.sizes[end - 1]
    return _Run(joined, first, end, joined.text[joined.starts[first]:stop])
