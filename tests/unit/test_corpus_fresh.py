"""The committed accuracy corpus is exactly what the generator makes, and big enough."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from proxy.inspection.detectors import DETECTORS_BY_ID
from proxy.inspection.findings import Kind
from tests.corpus.generate import (
    CORPUS_PATH,
    ENCODINGS,
    HIDDEN,
    MORE_ENCODINGS,
    SECRET_REWRITES,
    Entry,
    build,
    dumps,
    load,
)

MIN_POSITIVES = 200
MIN_NEGATIVES = 200
ID_SHAPE = re.compile(r"(pos|neg)-\d{3}-[a-z0-9_]+-[a-z0-9_]+-[a-z0-9+_]+")


@pytest.fixture(scope="module")
def fresh() -> list[Entry]:
    return build()


def test_committed_corpus_equals_a_fresh_generation(fresh: list[Entry]) -> None:
    committed = CORPUS_PATH.read_text(encoding="utf-8").splitlines(keepends=True)
    regenerated = dumps(fresh).splitlines(keepends=True)
    stale = [new for old, new in zip(committed, regenerated, strict=False) if old != new]
    hint = "rerun `python -m tests.corpus.generate`; never edit corpus.jsonl by hand"
    sizes = f"{len(committed)} lines != {len(regenerated)}"
    assert len(committed) == len(regenerated), f"{sizes}: {hint}"
    assert not stale, f"first stale line: {stale[0][:80]}...: {hint}"


def test_generation_is_deterministic(fresh: list[Entry]) -> None:
    assert dumps(build()) == dumps(fresh)


def test_counts_reach_the_minimum() -> None:
    labels = Counter(e.label for e in load())
    assert labels["positive"] >= MIN_POSITIVES
    assert labels["negative"] >= MIN_NEGATIVES
    assert set(labels) == {"positive", "negative"}


def test_ids_are_unique_and_hold_no_values() -> None:
    entries = load()
    ids = [e.id for e in entries]
    assert len(ids) == len(set(ids))
    assert all(ID_SHAPE.fullmatch(i) for i in ids), [i for i in ids if not ID_SHAPE.fullmatch(i)]


def test_every_positive_family_is_plain_and_in_every_encoding() -> None:
    seen: dict[str, set[str]] = {}
    for e in load():
        assert (e.label == "positive") == (e.detector is not None), e.id
        if e.detector:
            seen.setdefault(e.detector, set()).add(e.encoding)
    def expected(detector: str) -> set[str]:
        secret = DETECTORS_BY_ID[detector].kind is Kind.SECRET
        return {"plain", *ENCODINGS, *HIDDEN, *MORE_ENCODINGS, *(SECRET_REWRITES if secret else ())}

    assert {det: encs for det, encs in seen.items() if encs != expected(det)} == {}
    assert any("reversed" in encs for encs in seen.values())
