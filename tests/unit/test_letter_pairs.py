"""The letter-pair cost that tells names from random letters (proxy/inspection/letter_pairs.py).

Names of code and English words must cost at most the detectors' threshold, random letters of
every case mix more; and the committed table must be what the build script makes of its
counts (the table is data, never tuned by hand).
"""

from __future__ import annotations

import random
import string
from collections import Counter

import pytest

from proxy.inspection import letter_pairs_table
from proxy.inspection.detectors import _WORDS_MAX_PAIR_COST
from proxy.inspection.letter_pairs import mean_pair_cost
from proxy.inspection.letter_pairs_build import table_text

NAMES = [
    "passthrough_errors", "PassphraseCallableT", "WHEN_NO_MATCH", "getElementById",
    "NCPKeyMaterialName", "content-security-policy", "indexDefinition", "CachedAttrsOnExtRefs",
    "useCallback", "kubernetes", "strengths", "ansibrightblue", "languageId", "MyTestSecret",
    "TOKEN_LINESTATEMENT_BEGIN", "noinherit", "linestatement", "application",
]


@pytest.mark.parametrize("name", NAMES)
def test_names_read_as_words(name: str) -> None:
    cost = mean_pair_cost(name)
    assert cost is not None and cost <= _WORDS_MAX_PAIR_COST


@pytest.mark.parametrize("alphabet", [string.ascii_lowercase, string.ascii_uppercase,
                                      string.ascii_letters],
                         ids=["lower", "upper", "mixed"])
def test_random_letters_do_not(alphabet: str) -> None:
    """16 random letters cost more than the threshold at least 995 times in 1,000."""
    rng = random.Random(16)
    costs = [mean_pair_cost("".join(rng.choices(alphabet, k=16))) for _ in range(1000)]
    assert sum(c is not None and c > _WORDS_MAX_PAIR_COST for c in costs) >= 995


@pytest.mark.parametrize(("text", "cost"), [("", None), ("1234-5678", None), ("_.-/", None)])
def test_no_letters_no_cost(text: str, cost: float | None) -> None:
    assert mean_pair_cost(text) == cost


def test_case_and_separators_do_not_change_a_word() -> None:
    assert mean_pair_cost("Token") == mean_pair_cost("token") == mean_pair_cost("TOKEN")
    assert mean_pair_cost("a_b") == mean_pair_cost("a-b") == mean_pair_cost("a1b")


def test_build_writes_costs_from_counts() -> None:
    """Add-one smoothed -log2 P(next | letter) in tenths of a bit; a pair seen most after its
    letter costs least, a pair never seen costs most."""
    counts = Counter({"^q": 5, "qu": 100, "ue": 60, "e$": 40})
    namespace: dict[str, object] = {}
    exec(table_text(counts), namespace)
    rows = namespace["PAIR_COST_ROWS"]
    assert isinstance(rows, tuple) and len(rows) == 27 and all(len(r) == 27 for r in rows)
    firsts, seconds = letter_pairs_table.FIRSTS, letter_pairs_table.SECONDS
    q_row = rows[firsts.index("q")]
    assert q_row[seconds.index("u")] == min(q_row) == 3  # -log2(101 / 127) = 0.33 bits
    assert q_row[seconds.index("x")] == max(q_row) == 70  # -log2(1 / 127) = 6.99 bits
    assert namespace["FIRSTS"] == firsts and namespace["SECONDS"] == seconds
