"""One pass over a text for every detector: hyperscan finds candidates, validators confirm them.

`scan(text)` returns offsets into the str, `scan_bytes(data)` offsets into the bytes; either way
`m.value == text[m.start:m.end]`, so a caller can redact exactly the value. A Scanner owns one
hyperscan scratch space: use it from one thread at a time (mitmproxy's event loop is one thread).

`scan_many(texts)` returns what `[scan(t) for t in texts]` returns, faster: a request is a
hundred short texts (JSON fields, headers, decoded layers), and the fixed cost of a scan per text
outweighs the scanning itself. It runs one hyperscan pass over the texts joined by SEPARATOR,
then scans alone only the texts in which some pattern ended. That finds all a scan per text
finds because every pattern's edges accept SEPARATOR exactly as they accept the start or the end
of a text (`(?:^|[^A-Za-z0-9])`, `(?:[\\s"]|$)`...), and hyperscan reports every offset at which
a match ends; a match that runs across SEPARATOR only makes the texts on either side be scanned
alone, where it cannot. tests/unit/test_scanner.py checks this equivalence on the corpus.

`scan_many_and_rewrites(texts)` adds the same for every text rewritten (transforms.py: reversed,
rot13'd and case swapped, with a second database of the secret detectors' patterns only;
separators removed, with one of the fixed-shape detectors' patterns);
tests/unit/test_rewrites.py checks it against scanning each rewritten text alone.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

from proxy.inspection.detectors import (
    ALL_DETECTORS,
    SCAN_LIMIT_ID,
    Detector,
    glued_value_is_random,
)
from proxy.inspection.findings import Kind, Match
from proxy.inspection.hyperscan_block import block_database
from proxy.inspection.transforms import (
    DOUBLED_STARTS,
    KEY_STARTS,
    OBFUSCATED_AT,
    REJOINED,
    ROT13_BYTES,
    SWAPCASE,
    SWAPCASE_BYTES,
    TRANSFORMS,
    UNDOUBLED,
    UNGROUPED,
    UNMARKED,
    UNOBFUSCATED,
    UNSHIFTED,
    UNSPACED_DETECTORS,
    RewriteLimitExceeded,
    may_glue_markup,
    shifted_starts_database,
    unmarked,
)

try:
    import hyperscan
except ImportError as _error:  # pragma: no cover - hyperscan is a declared dependency
    hyperscan = None  # type: ignore[assignment]
    _HYPERSCAN_MISSING: str | None = str(_error)
else:
    _HYPERSCAN_MISSING = None

__all__ = ["MAX_CANDIDATES_PER_SCAN", "SCAN_LIMIT_ID", "SEPARATOR", "Scanner"]

log = logging.getLogger(__name__)

# Raw prefilter hits examined per scan, at most. Past it the scan stops and reports `scan_limit`:
# a body of a million fake candidates costs at most ~0.2 s of validation, then fails closed.
MAX_CANDIDATES_PER_SCAN = 4096
_SHORT_WINDOW = 96  # bytes; most matches located without start-of-match tracking are shorter
_LEFT_WINDOW = 48  # bytes before a value that Detector.left_deny is searched in
_KEY_LOOKBACK = 64  # bytes left of a match searched for the rest of its key: `db_password_hash`
_KEY_TAIL = re.compile(rb"[A-Za-z0-9_.-]*$")
# A key that is a name (not `Authorization: Bearer`, whose match starts at the space)
_NAME_START = re.compile(rb"[A-Za-z0-9_]")
_CONTINUATION_BYTES = bytes(range(0x80, 0xC0))
_NAMED_GROUP = re.compile(r"\(\?P<\w+>")

# Rewrites that keep every character where it stands among its neighbours (the whole text
# reversed, rot13'd, case-swapped): a key glued to a character is as glued as in the plain text.
# The others join pieces, and a key glued to the next piece is their doing.
GLUED_REWRITES = frozenset({"reversed", "rot13", SWAPCASE})

SEPARATOR = "\n"  # joins the texts of one scan_many pass; a boundary for every pattern
_SEPARATOR_BYTE = SEPARATOR.encode("ascii")
_KEPT_SEPARATOR = "\x00"  # a boundary too, and no rewrite removes it

_Hit = tuple[int, int, int]  # pattern index, start, end: bytes
# detector order, value start, value end, match start, pattern index: sorted as is, so a tuple
_Span = tuple[int, int, int, int, int]


@dataclass(frozen=True)
class _Pattern:
    detector: Detector
    order: int  # the detector's position: dedup and sorting need no string compares
    regex: re.Pattern[bytes]
    # `regex` anchored at the end: finds the start of hits reported without start tracking
    ends_here: re.Pattern[bytes] | None
    group: int | str
    extend: re.Pattern[bytes] | None
    context_deny: re.Pattern[bytes] | None
    glued: bool  # one of Detector.glued: its values must also look random
    left_deny: re.Pattern[bytes] | None


@dataclass(frozen=True)
class _Found:
    detector: str
    start: int
    end: int
    value: str


class Scanner:
    """Compiles the detectors once; `scan` is then one hyperscan pass plus per-candidate checks."""

    def __init__(self, detectors: Sequence[Detector] = ALL_DETECTORS) -> None:
        self._patterns = [
            _compile(detector, order, pattern, glued=pattern in detector.glued)
            for order, detector in enumerate(detectors)
            for pattern in (*detector.patterns, *detector.glued)
        ]
        self._database = _hyperscan_database(self._patterns) if hyperscan is not None else None
        self._finds_secrets = any(p.detector.kind is Kind.SECRET for p in self._patterns)
        self._finds_shapes = any(p.detector.id in UNSPACED_DETECTORS for p in self._patterns)
        if self._database is None:
            log.warning(
                "hyperscan unavailable (%s): scanning with Python re, one pattern at a time; "
                "inspection will be ~100x slower",
                _HYPERSCAN_MISSING,
            )

    # The rewrites' databases are compiled on first use (about 0.9 s together, more than the
    # main one): a scanner that never looks at rewrites (the DNS server's, one that only scrubs)
    # does not pay for them. The proxy compiles them at start-up (prepare_rewrites).

    @cached_property
    def _secrets_database(self) -> hyperscan.Database | None:
        """Rewrites (reversed, rot13, swapcase) are looked at for secrets only: the personal-data
        patterns are the broad ones, and leaving them out makes that pass about twice as fast."""
        if hyperscan is None or not self._finds_secrets:
            return None
        return _hyperscan_database(self._patterns, lambda p: p.detector.kind is Kind.SECRET)

    @cached_property
    def _shapes_database(self) -> hyperscan.Database | None:
        """The ungrouping rewrites change lengths, so their pass only says whether any text may
        hold a key of a fixed shape once its separators are gone (rarely): then each text is
        rewritten."""
        if hyperscan is None or not self._finds_shapes:
            return None
        return _hyperscan_database(self._patterns, lambda p: p.detector.id in UNSPACED_DETECTORS)

    @cached_property
    def _key_starts_database(self) -> hyperscan.Database | None:
        """Which texts hold a piece that starts like a key (transforms.rejoined): most hold
        none, and Python's re takes 0.2 ms to say so over a request's texts."""
        return self._gate([re.escape(start).encode() for start in KEY_STARTS])

    @cached_property
    def _shifted_starts_database(self) -> hyperscan.Database | None:
        """Which texts hold a key start enciphered by a shift (transforms.unshifted, which
        finds where with the same database)."""
        return shifted_starts_database() if self._finds_shapes else None

    @cached_property
    def _doubled_starts_database(self) -> hyperscan.Database | None:
        """Which texts hold a key start with each character doubled (transforms.undoubled)."""
        return self._gate([re.escape(start).encode() for start in DOUBLED_STARTS])

    @cached_property
    def _obfuscated_at_database(self) -> hyperscan.Database | None:
        """Which texts hold a bracketed "at" (transforms.unobfuscated)."""
        if hyperscan is None or "email" not in {p.detector.id for p in self._patterns}:
            return None
        return block_database([OBFUSCATED_AT], flags=hyperscan.HS_FLAG_CASELESS)

    def _gate(self, expressions: list[bytes]) -> hyperscan.Database | None:
        """A database of gate patterns, which say which of the texts joined in one pass may
        hold what a rewrite looks for; None without hyperscan or without a detector of a fixed
        shape to look for. Every match is reported (no HS_FLAG_SINGLEMATCH): each is mapped to
        its text, and a pattern in two texts must mark both."""
        if not self._finds_shapes:
            return None
        return block_database(expressions)

    def prepare_rewrites(self) -> None:
        """Compile what scan_many_and_rewrites needs now rather than on the first request."""
        _ = (self._secrets_database, self._shapes_database, self._key_starts_database,
             self._shifted_starts_database, self._doubled_starts_database,
             self._obfuscated_at_database)

    @property
    def engine(self) -> str:
        """"hyperscan", or "re" for the slow fallback."""
        return "hyperscan" if self._database is not None else "re"

    def scan(self, text: str, *, glued: bool = True) -> list[Match]:
        """Validated matches in `text`, offsets in str characters, sorted by position.
        `glued=False` leaves out the values of Detector.glued patterns: in a text whose pieces
        a rewrite glued together, a key glued to its neighbours is the rewrite's doing."""
        data = text.encode("utf-8", "surrogatepass")
        found, cut = self._find(data, "surrogatepass", glued=glued)
        if text.isascii():
            return _matches(found, cut, int)
        offsets = [f.start for f in found] + [f.end for f in found]
        char_offset = _char_offsets(data, offsets if cut is None else [*offsets, cut])
        return _matches(found, cut, char_offset.__getitem__)

    def scan_many(self, texts: Sequence[str]) -> list[list[Match]]:
        """`[self.scan(t) for t in texts]`, with one hyperscan pass for all of them."""
        return self._scan_joined(texts, rewrites=False)[0]

    def scan_many_and_rewrites(self, texts: Sequence[str]
                               ) -> tuple[list[list[Match]], list[tuple[int, str, list[Match]]]]:
        """What `scan_many` returns, and (index, rewrite, matches) for every text whose rewrite
        (transforms.TRANSFORMS) holds a match, as
        `scan(TRANSFORMS[name](text))` finds it. One hyperscan pass per rewrite for all texts."""
        return self._scan_joined(texts, rewrites=True)

    def _scan_joined(self, texts: Sequence[str], *, rewrites: bool
                     ) -> tuple[list[list[Match]], list[tuple[int, str, list[Match]]]]:
        results: list[list[Match]] = [[] for _ in texts]
        rewritten: list[tuple[int, str, list[Match]]] = []
        if self._database is None:  # the slow fallback: each text on its own
            everything = range(len(texts))
            plain: Sequence[int] = everything
            by_rewrite: dict[str, Sequence[int]] = dict.fromkeys(TRANSFORMS, everything)
        else:
            plain, by_rewrite = self._candidates(texts, rewrites=rewrites)
        for index in plain:
            results[index] = self.scan(texts[index])
        if rewrites:
            for name, indexes in by_rewrite.items():
                rewrite = TRANSFORMS[name]
                for index in indexes:
                    try:
                        rewritten_text = rewrite(texts[index])
                    except RewriteLimitExceeded:  # decoys: the text is not let through
                        rewritten.append((index, name, [_SCAN_LIMIT_MATCH]))
                        continue
                    if matches := self.scan(rewritten_text, glued=name in GLUED_REWRITES):
                        rewritten.append((index, name, matches))
        return results, rewritten

    def _candidates(self, texts: Sequence[str], *, rewrites: bool
                    ) -> tuple[Sequence[int], dict[str, Sequence[int]]]:
        """Indexes of the texts in which some pattern may match, as they are and (with
        `rewrites`) rewritten (transforms.TRANSFORMS): the texts joined by SEPARATOR, one
        pass each.

        Reversed and rot13 keep each text's length in bytes. rot13 works on the joined bytes
        (transforms.ROT13_BYTES); the joined text reversed holds the texts in reverse order,
        each reversed, so its starts are the mirror image of the plain ones. The ungrouping
        rewrites (unspaced, undashed, unseparated) do not keep lengths: their pass over the
        joined bytes without the separators only says whether any text may hold a key of a
        fixed shape, and then every text with a separator is rewritten.
        """
        if len(texts) < 2:  # a pass to find which texts to scan would be a scan of its own
            everything = range(len(texts))
            return everything, dict.fromkeys(TRANSFORMS if self._finds_secrets else (), everything)
        joined_text = SEPARATOR.join(texts)
        joined = joined_text.encode("utf-8", "surrogatepass")
        starts = _starts(texts)
        count = len(texts)
        plain = self._texts_with_hits(joined, starts, count, self._database)
        if not rewrites or not self._finds_secrets:
            return plain, {}
        secrets = self._secrets_database
        ends = [*starts[1:], len(joined) + len(SEPARATOR)]
        mirrored = [len(joined) - (ends[i] - len(SEPARATOR)) for i in reversed(range(count))]
        backwards = joined_text[::-1].encode("utf-8", "surrogatepass")
        last = count - 1
        reversed_hits = [last - i for i in self._texts_with_hits(backwards, mirrored, count,
                                                                 secrets)]
        by_rewrite: dict[str, Sequence[int]] = {
            "reversed": sorted(reversed_hits),
            "rot13": self._texts_with_hits(joined.translate(ROT13_BYTES), starts, count, secrets),
            SWAPCASE: self._texts_with_hits(joined.translate(SWAPCASE_BYTES), starts, count,
                                              secrets),
        }
        for name, separators in UNGROUPED.items():
            by_rewrite[name] = self._ungrouped_candidates(texts, joined, separators)
        by_rewrite[REJOINED] = self._texts_with_hits(joined, starts, count,
                                                     self._key_starts_database)
        by_rewrite[UNMARKED] = (self._unmarked_candidates(texts)
                                if "<" in joined_text or "]]>" in joined_text else [])
        by_rewrite[UNSHIFTED] = self._texts_with_hits(joined, starts, count,
                                                      self._shifted_starts_database)
        by_rewrite[UNDOUBLED] = self._texts_with_hits(joined, starts, count,
                                                      self._doubled_starts_database)
        by_rewrite[UNOBFUSCATED] = self._texts_with_hits(joined, starts, count,
                                                         self._obfuscated_at_database)
        return plain, by_rewrite

    def _unmarked_candidates(self, texts: Sequence[str]) -> list[int]:
        """The texts with markup (transforms.unmarked) that may hold a key of a fixed shape
        once it is gone: those texts rewritten, joined, one pass. Most texts have no "<"."""
        if self._shapes_database is None:
            return []
        # A CDATA section's end alone ("]]>") is markup too: see transforms.may_glue_markup
        marked = [i for i, text in enumerate(texts)
                  if ("<" in text or "]]>" in text) and may_glue_markup(text)]
        if not marked:
            return []
        rewritten = [unmarked(texts[i]) for i in marked]
        joined = SEPARATOR.join(rewritten).encode("utf-8", "surrogatepass")
        hits = self._texts_with_hits(joined, _starts(rewritten), len(rewritten),
                                     self._shapes_database)
        return [marked[i] for i in hits]

    def _ungrouped_candidates(self, texts: Sequence[str], joined: bytes, separators: bytes
                              ) -> list[int]:
        """The texts holding a separator, when the texts joined without `separators` may hold
        a key of a fixed shape (one pass); else none."""
        if self._shapes_database is None:
            return []
        if _SEPARATOR_BYTE in separators:
            # Removing the separator between the texts would glue each to the next, and a key
            # glued to a word has no boundary: join them with a character that stays instead.
            joined = _KEPT_SEPARATOR.join(texts).encode("utf-8", "surrogatepass")
        hits, cut = self._prefilter(joined.translate(None, separators), self._shapes_database)
        if not hits and cut is None:
            return []
        characters = separators.decode("ascii")
        return [i for i, text in enumerate(texts) if any(c in text for c in characters)]

    def _texts_with_hits(self, joined: bytes, starts: list[int], count: int,
                         database: hyperscan.Database | None) -> range | list[int]:
        """Indexes of the texts joined (by SEPARATOR) in `joined` in which some pattern of
        `database` may match: all of them when unsure, none when `database` is None (no
        detector of the kind it would hold). `starts`: where each text begins, in bytes."""
        if database is None:
            return []
        hits, cut = self._prefilter(joined, database)
        if cut is not None:  # too many candidates to sort out here: each text on its own
            return range(count)
        # A hit ends in the text whose bytes (and trailing separator) hold its last byte; a
        # match that consumed the separator after a text belongs to that text.
        return sorted({bisect_right(starts, end - 1) - 1 for _, _, end in hits})

    def scan_bytes(self, data: bytes) -> list[Match]:
        """Validated matches in `data`, offsets in bytes; values decode bad UTF-8 losslessly."""
        found, cut = self._find(data, "surrogateescape")
        return _matches(found, cut, int)

    def _find(self, data: bytes, errors: str, *, glued: bool = True
              ) -> tuple[list[_Found], int | None]:
        hits, cut = self._prefilter(data)
        spans: list[_Span] = []
        for index, hit_start, end in hits:
            pattern = self._patterns[index]
            match = self._confirm(pattern, data, hit_start, end)
            if match is None:
                continue
            value_start, value_end = match.span(pattern.group)
            if value_start < 0:  # a `value` group in a branch that did not match
                value_start, value_end = match.span()
            if pattern.extend is not None:
                grown = pattern.extend.match(data, value_end)
                value_end = grown.end() if grown else value_end
            value_start, value_end = _char_boundaries(data, value_start, value_end)
            spans.append((pattern.order, value_start, value_end, match.start(), index))
        spans.sort(key=lambda s: (s[0], s[1], -s[2]))  # per detector, leftmost, longest first
        return self._validate(data, spans, errors, glued=glued), cut

    @staticmethod
    def _confirm(pattern: _Pattern, data: bytes, start: int, end: int) -> re.Match[bytes] | None:
        """The hit as a Python match, so named groups locate the value."""
        if pattern.ends_here is not None and pattern.detector.max_length is not None:
            match = _match_ending_at(pattern.ends_here, data, end, pattern.detector.max_length)
            if match is None:  # longer than max_length: the detector declares it out of scope
                log.debug("detector %s: hit longer than max_length", pattern.detector.id)
            return match
        match = pattern.regex.fullmatch(data, start, end)
        if match is None:  # the two engines disagree: a pattern bug, never silent
            log.warning("detector %s: prefilter hit not confirmed by re", pattern.detector.id)
        return match

    def _validate(self, data: bytes, spans: list[_Span], errors: str, *, glued: bool
                  ) -> list[_Found]:
        found: list[_Found] = []
        accepted_end: dict[int, int] = {}  # per detector: end of the last value it reported
        for order, value_start, value_end, match_start, index in spans:
            if value_start < accepted_end.get(order, -1) or value_start == value_end:
                continue  # overlaps a value this detector already reported
            pattern = self._patterns[index]
            if pattern.context_deny is not None:
                # a match that starts with a line break (a file's line) starts no key before it
                key = None if data[match_start:match_start + 1] in (b"\n", b"\x00") else \
                    _KEY_TAIL.search(data, max(0, match_start - _KEY_LOOKBACK), match_start)
                key_start = key.start() if key else match_start
                if data[key_start - 1:key_start] == b":" and _NAME_START.match(data, key_start) \
                        and b"=" not in data[key_start:value_start]:
                    # part of a colon-separated name (Detector.context_deny); but a key after
                    # a ":" given its value by "=" is assigned (.npmrc's `//host/:_authToken=`)
                    continue
                if pattern.context_deny.search(data, key_start, value_start):
                    continue
            if pattern.left_deny is not None and pattern.left_deny.search(
                    data[max(0, value_start - _LEFT_WINDOW):value_start]):
                continue
            value = data[value_start:value_end].decode("utf-8", errors)
            validate = pattern.detector.validate
            if validate is not None and not validate(value):
                continue
            if pattern.glued and not (glued and glued_value_is_random(value)
                                      and not _inside_a_blob(data, value_start, value_end)):
                continue
            accepted_end[order] = value_end
            found.append(_Found(pattern.detector.id, value_start, value_end, value))
        return found

    def _prefilter(self, data: bytes, database: hyperscan.Database | None = None
                   ) -> tuple[list[_Hit], int | None]:
        """Every pattern hit (of the patterns in `database`, by default all), and the offset
        where scanning stopped if it reached the cap."""
        hits: list[_Hit] = []
        if not data:
            return hits, None
        database = database or self._database
        if database is None:
            return _prefilter_re(self._patterns, data)

        def on_match(index: int, start: int, end: int, flags: int, context: object) -> bool:
            hits.append((index, start, end))
            return len(hits) >= MAX_CANDIDATES_PER_SCAN  # True stops the scan

        try:
            database.scan(data, match_event_handler=on_match)
        except hyperscan.ScanTerminated:
            return hits, hits[-1][2]
        return hits, None


def _starts(texts: Sequence[str]) -> list[int]:
    """Where each text begins in the bytes of the texts joined by SEPARATOR."""
    starts: list[int] = []
    position = 0
    for text in texts:
        starts.append(position)
        size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
        position += size + len(SEPARATOR)
    return starts


# A glued value with this many base64 characters on each side sits inside a blob (an image's
# base64: `AIza` and 35 characters after it turn up in about one animated GIF in twenty), not
# glued to a character or two: it is not reported. A key so buried is not caught either.
GLUED_BLOB_CHARS = 48
_BLOB_BEFORE = re.compile(rb"[A-Za-z0-9+/=_-]{%d}\Z" % GLUED_BLOB_CHARS)
_BLOB_AFTER = re.compile(rb"[A-Za-z0-9+/=_-]{%d}" % GLUED_BLOB_CHARS)


MIN_BLOB_VARIETY = 20  # distinct characters in each side's window: random base64 has about 33


def _inside_a_blob(data: bytes, start: int, end: int) -> bool:
    """Whether a glued value sits inside random base64: GLUED_BLOB_CHARS of its alphabet on
    each side, varied as random data is (padding of one character, zeros or hex digits is not
    a blob: it is a key glued to padding)."""
    before = data[max(0, start - GLUED_BLOB_CHARS):start]
    after = data[end:end + GLUED_BLOB_CHARS]
    return bool(_BLOB_BEFORE.search(before) and _BLOB_AFTER.match(after)
                and len(set(before)) >= MIN_BLOB_VARIETY and len(set(after)) >= MIN_BLOB_VARIETY)


def _compile(detector: Detector, order: int, pattern: str, *, glued: bool = False) -> _Pattern:
    if not pattern:
        raise ValueError(f"detector {detector.id}: empty pattern")
    flags = re.IGNORECASE if detector.caseless else 0
    regex = re.compile(pattern.encode("ascii"), flags)
    return _Pattern(
        detector=detector,
        order=order,
        regex=regex,
        ends_here=(
            re.compile(b"(?:" + regex.pattern + rb")\Z", flags) if detector.max_length else None
        ),
        group="value" if "value" in regex.groupindex else min(regex.groups, 1),
        extend=re.compile(detector.extend.encode("ascii")) if detector.extend else None,
        context_deny=(
            re.compile(detector.context_deny.encode("ascii")) if detector.context_deny else None
        ),
        glued=glued,
        left_deny=re.compile(detector.left_deny.encode("ascii")) if detector.left_deny else None,
    )


def _hyperscan_database(patterns: Sequence[_Pattern],
                        keep: Callable[[_Pattern], bool] | None = None) -> hyperscan.Database:
    """One block-mode database of the patterns (those `keep` accepts, when given), each
    reported by its index in `patterns`. Start-of-match tracking locates a hit for Python's re,
    except for detectors with `max_length`: re finds their start in that window before the end."""
    chosen = [(i, p) for i, p in enumerate(patterns) if keep is None or keep(p)]
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(
        expressions=[_NAMED_GROUP.sub("(", p.regex.pattern.decode()).encode() for _, p in chosen],
        ids=[i for i, _ in chosen],
        elements=len(chosen),
        flags=[
            (0 if p.detector.max_length else hyperscan.HS_FLAG_SOM_LEFTMOST)
            | (hyperscan.HS_FLAG_CASELESS if p.detector.caseless else 0)
            for _, p in chosen
        ],
    )
    return database


def _prefilter_re(patterns: Sequence[_Pattern], data: bytes) -> tuple[list[_Hit], int | None]:
    """The fallback: each pattern in turn. Leftmost-first, so a few overlapping hits are lost."""
    hits: list[_Hit] = []
    for index, pattern in enumerate(patterns):
        position = 0
        while (match := pattern.regex.search(data, position)) is not None:
            hits.append((index, match.start(), match.end()))
            if len(hits) >= MAX_CANDIDATES_PER_SCAN:
                return hits, match.end()
            # resume at the value's end: the trailing boundary may be the next match's leading one
            value_end = match.end(pattern.group) if match.start(pattern.group) >= 0 else 0
            position = max(value_end, match.start() + 1)
    return hits, None


def _match_ending_at(
    ends_here: re.Pattern[bytes], data: bytes, end: int, max_length: int
) -> re.Match[bytes] | None:
    """A match ending at `end`, searched in a short window first (re is slow per byte). Every such
    pattern starts with a boundary or a keyword, so a window holds a whole match or none."""
    for length in (_SHORT_WINDOW, max_length) if max_length > _SHORT_WINDOW else (max_length,):
        match = ends_here.search(data, max(0, end - length), end)
        if match is not None:
            return match
    return None


def _char_boundaries(data: bytes, start: int, end: int) -> tuple[int, int]:
    """Widen a byte span so it neither starts nor ends inside a UTF-8 sequence."""
    while 0 < start < len(data) and data[start] & 0xC0 == 0x80:
        start -= 1
    while end < len(data) and data[end] & 0xC0 == 0x80:
        end += 1
    return start, end


def _char_offsets(data: bytes, byte_offsets: Sequence[int]) -> dict[int, int]:
    """Map UTF-8 byte offsets to str offsets in one left-to-right walk: a character is one byte
    that is not a continuation byte (surrogatepass encodes lone surrogates the same way)."""
    mapping: dict[int, int] = {}
    previous = chars = 0
    for offset in sorted(set(byte_offsets)):
        chars += len(data[previous:offset].translate(None, _CONTINUATION_BYTES))
        mapping[offset] = chars
        previous = offset
    return mapping


# What a rewrite that ran past its budget reports: the engine blocks on it (inspection_limit).
_SCAN_LIMIT_MATCH = Match(detector=SCAN_LIMIT_ID, start=0, end=0, value="")


def _matches(found: list[_Found], cut: int | None, offset: Callable[[int], int]) -> list[Match]:
    matches = [
        Match(detector=f.detector, start=offset(f.start), end=offset(f.end), value=f.value)
        for f in found
    ]
    if cut is not None:  # an empty span where scanning stopped
        matches.append(Match(detector=SCAN_LIMIT_ID, start=offset(cut), end=offset(cut), value=""))
    matches.sort(key=lambda m: (m.start, m.end, m.detector))
    return matches
