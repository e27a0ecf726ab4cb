"""Which texts of a request may hold anything to peel, for all of them at once.

`encoded_runs.maybe_encoded(text)` answers for one text with a few regex searches. A request is
a hundred texts, most with nothing to peel, and the calls alone cost about 60 µs on the bench's
4 KB body. `with_peel_hints(items)` asks hyperscan first: one pass over a window of texts joined
by NUL, with patterns that match wherever _MAYBE_ENCODED's alternatives could (HINT_PATTERNS,
each a superset of its alternative: tests/unit/test_peel_hints.py checks that on random texts),
then `maybe_encoded` on the texts where only a looser pattern ended (the exact ones settle it).
The answer per text is exactly `maybe_encoded`'s; texts with no hint at all are skipped without
a search. The same pass tells the peel of each text what it need not search for
(root_hints.RootHints): base85 tokens, escapes, listed bytes, bits, uuencode, soft line breaks,
and where the runs to decode start (in characters, whatever the text's bytes). `hint_of(text)`
gives the same for one text: peeling asks it of each long variant it finds (a text normalised),
which is as long as the text and would otherwise be searched without hints.

Falls back to `maybe_encoded` on every text of a window when hyperscan is missing, a text holds a
NUL, or the pass reports more than MAX_HINT_HITS hits (a body of percent escapes would call back
once per escape).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from itertools import islice
from typing import NamedTuple, TypeVar

from proxy.inspection.encoded_runs import (
    ANY_RUN_CHARS,
    BASE85_SIGNS,
    MIN_AREA,
    MIN_BASE64_RUN,
    MIN_BASE85_RUN,
    MIN_LISTED_BYTES,
    UU_FIRST,
    UU_SHORTEST,
    grouped_hint_patterns,
    has_grouped_base64,
    maybe_encoded,
)
from proxy.inspection.fields import Field
from proxy.inspection.root_hints import UNKNOWN, RootHints
from proxy.inspection.textual import character_offsets

try:
    import hyperscan
except ImportError:  # pragma: no cover - hyperscan is a declared dependency
    hyperscan = None  # type: ignore[assignment]

MAX_HINT_HITS = 4096  # hits per window (about 1.4 ms of callbacks), at most; past it every
# text of the window is searched
WINDOW_TEXTS = 512  # texts per pass: bounds the joined copy for a body of many fields
_JOIN = "\x00"

# In the UTF-8 bytes, any character that Python's str `\s` matches (Unicode spaces, U+001C-1F)
# is one of these bytes, so each class below holds every byte its `re` counterpart can meet.
_SPACE = rb"[\t\n\x0b\x0c\r \x1c-\x1f\x80-\xff]"
_SIGNS = b"".join(b"\\" + bytes([c]) for c in BASE85_SIGNS.encode())
# a token with a base85 sign, reported once, where it ends (a NUL ends every text)
_BASE85_PATTERN = rb"[!-~]*[%s][!-~]*(?:[^!-~]|$)" % _SIGNS
_RUN = ANY_RUN_CHARS.encode()
# (name, pattern, shortest match for HS_EXT_FLAG_MIN_LENGTH or 0, whether a hit settles it): a
# pattern that settles matches exactly where its _MAYBE_ENCODED alternative does; the others
# match a superset of it, and the text is then searched with maybe_encoded. Each pattern also
# matches wherever the search that root_hints.RootHints names after it could: no hit, no
# search.
HINT_PATTERNS: tuple[tuple[str, bytes, int, bool], ...] = (
    # base64/base32/hex runs: reported once per run, at its MIN_BASE64_RUN-th character
    ("run", rb"(?:^|[^A-Za-z0-9+/_\-])[A-Za-z0-9+/_\-]{%d}" % MIN_BASE64_RUN, 0, True),
    ("percent", rb"%[0-9A-Fa-f]{2}", 0, True),
    ("percent_u", rb"%u[0-9A-Fa-f]{4}", 0, True),  # an escape too (_BACKSLASH_ESCAPE)
    ("backslash", rb"\\[xuU0-7]", 0, True),  # where every _BACKSLASH_ESCAPE but %u starts
    # \w in UTF-8: ASCII word bytes or any above
    ("reference", rb"&#?[0-9A-Za-z_\x80-\xff]+;", 0, False),
    ("listed", rb"[0-9][xXoO]?[0-9A-Fa-f]{0,3}(?:(?:[:\-]|,?%s+|,)(?:0[xXoO])?[0-9A-Fa-f]{1,4}){%d}"
     % (_SPACE, MIN_LISTED_BYTES - 1), 0, False),
    # a character is at most 3 bytes here: `[\s,:-]{0,2}` is at most 6 bytes
    ("binary", rb"[01]{8}(?:(?:[,:\-]|%s){0,6}[01]{8}){%d}" % (_SPACE, MIN_LISTED_BYTES - 1),
     0, False),
    ("base85", _BASE85_PATTERN, MIN_BASE85_RUN, False),
    # a uuencoded line: at the start of a text (after the NUL that ends the one before) or of
    # a line; Python's `^` in MULTILINE mode matches after "\n" only
    ("uu", rb"(?:^|[\n\x00])[%s-M][ -`]{%d}" % (UU_FIRST.encode(), UU_SHORTEST), 0, False),
    # quoted-printable: a soft line break inside a word, or three escapes in a row
    ("quoted_printable", rb"[!-<>-~]=\r?\n[!-~]|(?:=[0-9A-Fa-f]{2}){3}", 0, True),
    # a run of _ANY_RUN (encoded_runs._areas), reported once, at its MIN_AREA-th character: it
    # starts MIN_AREA bytes before the hit's end. Not a sign of anything to decode by itself.
    ("area", rb"(?:^|[^%s])[%s]{%d}" % (_RUN, _RUN, MIN_AREA), 0, False),
    # three tokens of one width, one leading, and a fourth (encoded_runs._GROUPED_HINT), a
    # pattern per alternative; after any byte of a non-ASCII character too, which may be a space
    *(("grouped", rb"(?:^|%s|\x00)%s" % (_SPACE, alternative.encode()), 0, False)
      for alternative in grouped_hint_patterns()),
)


class Hint(NamedTuple):
    maybe: bool  # maybe_encoded(text.text), or False for a text not to be peeled
    root: RootHints  # what peeling the text need not search for


_NOTHING = Hint(False, RootHints(False, False, False, False, False, False, False, ()))


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
    found = _hits([window[i].text for i in peeled])
    if found is None:  # unsure: every search is made
        for index in peeled:
            flags[index] = Hint(maybe_encoded(window[index].text), UNKNOWN)
        return flags
    for position, hits in found.items():  # the texts no pattern ended in keep _NOTHING
        flags[peeled[position]] = _hint(window[peeled[position]].text, hits)
    return flags


def hint_of(text: str) -> Hint:
    """The Hint of one text: what layers.peel asks of a long variant it found (a text
    normalised) before peeling that in turn (layers.Hinter)."""
    found = _hits([text])
    if found is None:
        return Hint(maybe_encoded(text), UNKNOWN)
    hits = found.get(0)
    return _NOTHING if hits is None else _hint(text, hits)


def _hint(text: str, hits: _TextHits) -> Hint:
    mask = hits.mask
    grouped = bool(mask & _BIT["grouped"])
    if mask & _SETTLES:
        maybe = True
    elif mask & _ASKS:  # a looser pattern: the alternatives are searched
        maybe = maybe_encoded(text, grouped=grouped)
    else:  # groups of one width, or runs of the union alphabet only
        maybe = grouped and has_grouped_base64(text)
    return Hint(maybe, RootHints(*_flags(mask), tuple(character_offsets(text, hits.areas))))


class _TextHits(NamedTuple):
    mask: int  # bit i: HINT_PATTERNS[i] ended in the text
    areas: list[int]  # where the text's runs of encoded_runs._ANY_RUN start, in bytes


@cache
def _flags(mask: int) -> tuple[bool, bool, bool, bool, bool, bool, bool]:
    """RootHints' flags, but areas, for a mask of HINT_PATTERNS that ended in a text."""
    return (
        bool(mask & _BIT["base85"]),
        bool(mask & (_BIT["backslash"] | _BIT["percent_u"])),  # escapes
        bool(mask & _BIT["listed"]),
        bool(mask & _BIT["binary"]),
        bool(mask & _BIT["uu"]),
        bool(mask & _BIT["quoted_printable"]),
        bool(mask & _BIT["grouped"]),
    )


def _hits(texts: Sequence[str]) -> dict[int, _TextHits] | None:
    """{position: what ended in it} for the texts some pattern ended in; None when unsure."""
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
    masks: dict[int, int] = {}
    areas: dict[int, list[int]] = {}
    # the text of the last hit, where its NULs were counted to, and where that text starts
    position, seen, text_start = 0, 0, 0
    for end, pattern in sorted(hits):
        # A hit ends in the text holding its last byte, or consumed the NUL after that text:
        # the texts before it are the NULs before that byte.
        if nuls := data.count(b"\x00", seen, end - 1):
            position += nuls
            text_start = data.rfind(b"\x00", seen, end - 1) + 1
        seen = end - 1
        masks[position] = masks.get(position, 0) | 1 << pattern
        if pattern == _AREA:
            areas.setdefault(position, []).append(end - MIN_AREA - text_start)
    return {position: _TextHits(mask, areas.get(position, []))
            for position, mask in masks.items()}


_BIT = {name: sum(1 << index for index, entry in enumerate(HINT_PATTERNS) if entry[0] == name)
        for name, _, _, _ in HINT_PATTERNS}  # a name's bits: "grouped" has one per alternative
_SETTLES = sum(1 << index for index, (_, _, _, settles) in enumerate(HINT_PATTERNS) if settles)
# the loose patterns that ask maybe_encoded; "area" is no alternative of it, and "grouped" asks
# only has_grouped_base64
_ASKS = sum(1 << index for index, (name, _, _, settles) in enumerate(HINT_PATTERNS)
            if not settles and name not in ("area", "grouped"))
_AREA = [name for name, _, _, _ in HINT_PATTERNS].index("area")


@cache
def _database() -> hyperscan.Database | None:
    if hyperscan is None:
        return None
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(
        expressions=[pattern for _, pattern, _, _ in HINT_PATTERNS],
        ids=list(range(len(HINT_PATTERNS))),
        elements=len(HINT_PATTERNS),
        flags=0,
        # (flags, min_offset, max_offset, min_length, edit_distance, hamming_distance)
        ext=[(hyperscan.HS_EXT_FLAG_MIN_LENGTH if shortest else 0, 0, 0, shortest, 0, 0)
             for _, _, shortest, _ in HINT_PATTERNS],
    )
    return database
