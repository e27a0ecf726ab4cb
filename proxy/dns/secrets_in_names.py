"""Secrets split across the labels of a name, for masking the audit line's `name`.

The scrubber run over the dotted name finds `<secret>.attacker.example`, but not a token cut
into short labels (`ghp_A1b2C3d4.E5f6G7h8....attacker.example`) or split by hyphens. So the
labels are also scanned joined without dots, and joined without dots and hyphens; a match
masks every label it covers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

# text -> (start, end, detector) of each value a detector finds in it
FindSecrets = Callable[[str], Sequence[tuple[int, int, str]]]


def secret_labels(labels: tuple[bytes, ...], find: FindSecrets) -> dict[int, str]:
    """Index of each label a secret found in the joined labels covers -> the detector."""
    covered: dict[int, str] = {}
    texts = [label.decode("latin-1") for label in labels]
    for drop_hyphens in (False, True):
        if drop_hyphens and not any("-" in text for text in texts):
            continue
        if not drop_hyphens and len(texts) < 2:
            continue  # one label: the dotted name's own scrub sees the same text
        joined: list[str] = []
        owner: list[int] = []  # the label each character of `joined` comes from
        for index, text in enumerate(texts):
            part = text.replace("-", "") if drop_hyphens else text
            joined.append(part)
            owner.extend([index] * len(part))
        for start, end, detector in find("".join(joined)):
            for position in range(max(0, start), min(end, len(owner))):
                covered.setdefault(owner[position], detector)
    return covered
