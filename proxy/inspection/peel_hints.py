"""Which texts of a request may hold anything to peel, for all of them at once.

`layers.maybe_encoded(text)` answers for one text with a few regex searches. A request is a
hundred texts, most with nothing to peel, and the calls alone cost about 60 µs on the bench's
4 KB body. `with_peel_hints(items)` asks hyperscan first: one pass over a window of texts joined
by NUL, with patterns that match wherever _MAYBE_ENCODED's alternatives could (HINT_PATTERNS,
each a superset of its alternative: tests/unit/test_peel_hints.py checks that on random
texts), then `maybe_encoded` on the texts where only a looser pattern ended (the exact ones
settle it). The answer per text is exactly `maybe_encoded`'s; texts with no hint at all are
skipped without a search. The pass also says which texts may hold a base85 token.

Falls back to `maybe_encoded` on every text of a window when hyperscan is missing, a text holds a
NUL, or the pass reports more than MAX_HINT_HITS hits (a body of percent escapes would call back
once per escape).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from itertools import islice
from typing import NamedTuple, TypeVar

from proxy.inspection.fields import Field
from proxy.inspection.layers import (
    BASE85_SIGNS,
    MIN_BASE64_RUN,
    MIN_BASE85_RUN,
    MIN_LISTED_BYTES,
    UU_FIRST,
    UU_SHORTEST,
    maybe_encoded,
)

try:
    import hyperscan
except ImportError:  # pragma: no cover - hyperscan is a declared dependency
    hyperscan = None  # type: ignore[assignment]

MAX_HINT_HITS = 2048  # hits per window (about 0.7 ms of callbacks), at most; past it every text
# of the window is searched
WINDOW_TEXTS = 512  # texts per pass: bounds the joined copy for a body of many fields
_JOIN = "\x00"

# In the UTF-8 bytes, any character that Python's str `\s` matches (Unicode spaces, U+001C-1F)
# is one of these bytes, so each class below holds every byte its `re` counterpart can meet.
_SPACE = rb"[\t\n\x0b\x0c\r \x1c-\x1f\x80-\xff]"
_SIGNS = b"".join(b"\\" + bytes([c]) for c in BASE85_SIGNS.encode())
# a token with a base85 sign, reported once, where it ends (a NUL ends every text)
_BASE85_PATTERN = rb"[!-~]*[%s][!-~]*(?:[^!-~]|$)" % _SIGNS
# (pattern, shortest match for HS_EXT_FLAG_MIN_LENGTH or 0, whether a hit settles it): a pattern
# that settles matches exactly where its _MAYBE_ENCODED alternative does; the others match a
# superset of it, and the text is then searched with maybe_encoded.
HINT_PATTERNS: tuple[tuple[bytes, int, bool], ...] = (
    # base64/base32/hex runs: reported once per run, at its MIN_BASE64_RUN-th character
    (rb"(?:^|[^A-Za-z0-9+/_\-])[A-Za-z0-9+/_\-]{%d}" % MIN_BASE64_RUN, 0, True),
    (rb"%[0-9A-Fa-f]{2}", 0, True),
    (rb"%u[0-9A-Fa-f]{4}", 0, True),
    (rb"\\[xuU0-7]", 0, True),
    (rb"&#?[0-9A-Za-z_\x80-\xff]+;", 0, False),  # \w in UTF-8: ASCII word bytes or any above
    (rb"[0-9][xXoO]?[0-9A-Fa-f]{0,3}(?:(?:[:\-]|,?%s+|,)(?:0[xXoO])?[0-9A-Fa-f]{1,4}){%d}"
     % (_SPACE, MIN_LISTED_BYTES - 1), 0, False),
    # a character is at most 3 bytes here: `[\s,:-]{0,2}` is at most 6 bytes
    (rb"[01]{8}(?:(?:[,:\-]|%s){0,6}[01]{8}){%d}" % (_SPACE, MIN_LISTED_BYTES - 1), 0, False),
    (_BASE85_PATTERN, MIN_BASE85_RUN, False),
    # a uuencoded line: at the start of a text (after the NUL that ends the one before) or of
    # a line; Python's `^` in MULTILINE mode matches after "\n" only
    (rb"(?:^|[\n\x00])[%s-M][ -`]{%d}" % (UU_FIRST.encode(), UU_SHORTEST), 0, False),
    (rb"[!-<>-~]=\r?\n[!-~]", 0, True),  # a quoted-printable soft line break inside a word
)


class Hint(NamedTuple):
    maybe: bool  # maybe_encoded(text.text), or False for a text not to be peeled
    base85: bool  # whether the text may hold a base85 token: False only when sure it does not


_NOTHING = Hint(False, False)


Extra = TypeVar("Extra")


def with_peel_hints(items: Iterable[tuple[Field, Extra]]
                    ) -> Iterator[tuple[Field, Extra, Hint]]:
    """(text, extra, the text's Hint) for each (text, extra), in order. `extra` rides along
    (the engine's clean-cache key): the caller leaves out texts it knows clean before asking."""
    iterator = iter(items)
    while window := list(islice(iterator, WINDOW_TEXTS)):
        hints = _window_hints([text for text, _ in window])
        yield from ((text, extra, hint)
                    for (text, extra), hint in zip(window, hints, strict=True))


def _window_hints(window: Sequence[Field]) -> list[Hint]:
    peeled = [i for i, text in enumerate(window) if text.peel]
    flags = [_NOTHING] * len(window)
    hints = _hints([window[i].text for i in peeled])
    for position, index in enumerate(peeled):
        found = _UNSURE if hints is None else hints.get(position)
        if found is not None:
            maybe = bool(found & _SETTLED) or maybe_encoded(window[index].text)
            flags[index] = Hint(maybe, bool(found & _BASE85))
    return flags


def _hints(texts: Sequence[str]) -> dict[int, int] | None:
    """{position: _SETTLED and _BASE85 bits} for the texts some pattern ended in: _SETTLED when
    one of them settles it, _BASE85 when one was the base85 pattern; None when unsure."""
    database = _database()
    if database is None or not texts:
        return None
    joined = _JOIN.join(texts)
    if joined.count(_JOIN) != len(texts) - 1:  # a text holds the separator itself
        return None
    data = joined.encode("utf-8", "surrogatepass")
    hits: list[tuple[int, int]] = []  # (end, pattern)

    def on_match(pattern: int, start: int, end: int, flags: int, context: object) -> bool:
        hits.append((end, pattern))
        return len(hits) > MAX_HINT_HITS  # True stops the scan

    try:
        database.scan(data, match_event_handler=on_match)
    except hyperscan.ScanTerminated:
        return None
    hints: dict[int, int] = {}
    position, seen = 0, 0  # the text of the last hit, and where its NULs were counted to
    for end, pattern in sorted(hits):
        # A hit ends in the text holding its last byte, or consumed the NUL after that text:
        # the texts before it are the NULs before that byte.
        position += data.count(b"\x00", seen, end - 1)
        seen = end - 1
        hints[position] = hints.get(position, 0) | _BITS[pattern]
    return hints


_SETTLED, _BASE85 = 1, 2
_UNSURE = _BASE85  # maybe_encoded decides; base85 tokens are looked for
_BITS = tuple((_SETTLED if settles else 0) | (_BASE85 if pattern is _BASE85_PATTERN else 0)
              for pattern, _, settles in HINT_PATTERNS)


@cache
def _database() -> hyperscan.Database | None:
    if hyperscan is None:
        return None
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(
        expressions=[pattern for pattern, _, _ in HINT_PATTERNS],
        ids=list(range(len(HINT_PATTERNS))),
        elements=len(HINT_PATTERNS),
        flags=0,
        # (flags, min_offset, max_offset, min_length, edit_distance, hamming_distance)
        ext=[(hyperscan.HS_EXT_FLAG_MIN_LENGTH if shortest else 0, 0, 0, shortest, 0, 0)
             for _, shortest, _ in HINT_PATTERNS],
    )
    return database
