"""How much a string's letters read like words: the mean cost of its letter pairs.

A letter pair's cost is -log2 P(next letter | letter) in the words of code and English
(letter_pairs_table.py, built from Python's standard library by letter_pairs_build.py). Names
like `passthrough_errors`, `getElementById` or `WHEN_NO_MATCH` cost about 3.5 to 4.5 bits a
pair; random letters cost 5.5 to 7.5 (a random 16-letter string costs more than 5.4 ninety-nine
times in a hundred, in any case mix). Letters are read in runs, lower-cased, so that case
changes do not cut random mixed-case text into short "words".
"""

from __future__ import annotations

import re

from proxy.inspection.letter_pairs_table import FIRSTS, PAIR_COST_ROWS, SECONDS

_COST = {
    first + second: cost / 10
    for first, row in zip(FIRSTS, PAIR_COST_ROWS, strict=True)
    for second, cost in zip(SECONDS, row, strict=True)
}
_LETTER_RUN = re.compile(r"[A-Za-z]+")


def mean_pair_cost(text: str) -> float | None:
    """Mean cost in bits of the letter pairs of `text`'s letter runs (start and end included);
    None when it has no ASCII letter."""
    bits = 0.0
    pairs = 0
    for run in _LETTER_RUN.findall(text):
        framed = f"^{run.lower()}$"
        for index in range(len(framed) - 1):
            bits += _COST[framed[index:index + 2]]
        pairs += len(framed) - 1
    return bits / pairs if pairs else None
