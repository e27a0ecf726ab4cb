"""Secrets split across the labels of a name, for masking the audit line's `name`.

The scrubber run over the dotted name finds `<secret>.attacker.example`, but not a token cut
into short labels (`ghp_A1b2C3d4.E5f6G7h8....attacker.example`) or split by hyphens. So the
labels of the name (all of them: a key's last piece can be the registered domain of a name that
is not allowed) are scanned dotted, joined without dots, and joined without dots and hyphens:
what they cover is masked in the log, and a credential there refuses the name
(proxy/dns/decide.py). Detectors want a boundary around a
token, so every run of labels that starts at the first label or ends at the last one is scanned
(a linear number of texts, at most `MAX_LABELS` each way). A match masks every label it covers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

# text -> (start, end, detector) of each value a detector finds in it
FindSecrets = Callable[[str], Sequence[tuple[int, int, str]]]
MAX_LABELS = 32  # runs scanned each way; a name has at most 127 labels


def secret_labels(labels: tuple[bytes, ...], find: FindSecrets) -> dict[int, str]:
    """Index of each label a secret found in a run of joined labels covers -> the detector."""
    covered: dict[int, str] = {}
    texts = [label.decode("latin-1") for label in labels]
    count = len(texts)
    runs = {(0, count)}
    runs.update((0, end) for end in range(2, min(count, MAX_LABELS) + 1))
    runs.update((start, count) for start in range(max(0, count - MAX_LABELS), count - 1))
    _cover(texts, 0, count, find, covered, joiner=".")  # each label whole, dots as boundaries
    for drop_hyphens in (False, True):
        parts = [t.replace("-", "") if drop_hyphens else t for t in texts]
        for start, end in sorted(runs):
            if drop_hyphens and not any("-" in t for t in texts[start:end]):
                continue
            _cover(parts, start, end, find, covered)
    return covered


def _cover(parts: list[str], start: int, end: int, find: FindSecrets,
           covered: dict[int, str], *, joiner: str = "") -> None:
    owner: list[int | None] = []  # the label each character of the joined run comes from
    for index in range(start, end):
        if joiner and index > start:
            owner.extend([None] * len(joiner))
        owner.extend([index] * len(parts[index]))
    for first, last, detector in find(joiner.join(parts[start:end])):
        for position in range(max(0, first), min(last, len(owner))):
            label = owner[position]
            if label is not None:
                covered.setdefault(label, detector)
