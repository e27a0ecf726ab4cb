"""Peel hidden layers off a text: every decoded variant inside it, to a bounded depth and size.

`peel(text)` yields the text itself, then each variant found in it, recursively:
- decodings, each one level of depth: "percent", "form" (percent plus "+" as a space),
  "quoted_printable" (soft line breaks and `=XX` escapes, when a soft break cuts a word),
  "escapes" (backslash escapes `\\xNN`, `\\uNNNN`, `\\UNNNNNNNN`, `\\u{N..}`, `\\x{N..}`, octal
  `\\NN` or `\\NNN`, and `%uNNNN`, with escaped bytes read as UTF-8 when they spell it),
  "css_escapes" (`\\67 `, hex of two to six digits) and "html" (character references `&#65;`,
  `&#x41;`, `&amp;`) of the whole text, and runs inside the text of
  "base64" (standard alphabet; also wrapped into lines, MIME and PEM style, or cut into groups
  or short lines of one width, joined),
  "base64url", "base32" and "hex" (also bytes listed with separators: `de:ad`, `0x41,0x4b`,
  `41 4b`), "decimal_bytes" (byte values listed: `65,75,73,65`), "octal_bytes" (the same in
  octal: `101 113`, `0o101, 0o113`), "uu" (uuencoded lines at the start of a line),
  "binary" (eight bits a byte, glued or separated: `01000001 01001011`), "base85" and
  "ascii85" (tokens of Python's `b85encode` and `a85encode`, see encoded_runs.BASE85_SIGNS),
  and base64 runs "reversed" or "rot13"'d after encoding (kept only when they decode to text);
- rides along with the decoding that exposed it, no extra depth: compressed data ("gzip",
  "zlib", "zstd", by magic number; "br" and raw "deflate", which have none, only when the
  first bytes decompress to text and the whole stream decodes), and "strings", the long
  printable runs of binary data;
- normalisations, no depth: "zero_width" (invisible characters removed), "nfkc"
  (compatibility forms such as full-width letters folded), "confusables" (Cyrillic and Greek
  letters that look Latin, such as Cyrillic "\\u0410" for "A", folded), applied together as
  one variant; and, once per chain, the hidden text of "tags" (Unicode tag characters,
  invisible ASCII) and "variation_selectors" (bytes spelled by a run of variation selectors).

The decodings and normalisations of the whole text are also undone all together, as one
variant (whole_text.whole_text_decodings); a variant made by one of them is not rewritten whole
again.

A text of more than MIN_BINARY_TEXT characters that is not text (binary data read as
characters) is not peeled whole: its runs of text are, as a variant "text_runs".

A decoded run that is neither text nor compressed text (an image, a hash, random bytes) yields
nothing, unless it holds printable runs of MIN_STRINGS_RUN characters or more. Only the decoded
run is yielded, not the text around it: a scanner looking for `password=<value>` context sees
the context in the outer layer and the value alone in the inner one.

Not caught here: runs shorter than the minimums in encoded_runs.py, base64 glued to letters
before it (misaligned unless the glue is a multiple of 4 characters), base85 tokens without a
sign or glued to a name other than by "=" or ":", uuencode inside a line, encodings other than
those named (custom alphabets, XOR; reversed and rot13 text are scanned, not peeled: see
transforms.py), and anything encrypted. Work is bounded: past MAX_VARIANTS variants or
`max_bytes` characters of decoded text, peel raises DecodeLimitExceeded (after yielding what
fit) so that the caller blocks rather than forwards what it could not look into; and a text
that holds one more layer of text below `max_depth` raises DepthLimitExceeded (one of those)
once all the variants within the bound are yielded.

This module walks the layers and keeps the bounds; the variants come from whole_text.py
(decodings and normalisations of the whole text, hidden characters), encoded_runs.py (runs
found inside the text) with run_decoders.py (each run's alphabet decoded), and byte_readings.py
(decoded bytes read as text, or XOR'd with one byte); root_hints.py says which searches a
caller's hints spare.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from proxy.inspection.archives import ZIP_MAGIC, zip_members
from proxy.inspection.byte_readings import XOR, XOR_SOURCES, single_byte_xor
from proxy.inspection.compression import decompress, sniff_format
from proxy.inspection.cpu_budget import CpuBudget
from proxy.inspection.decode_errors import (
    DecodeLimitExceeded,
    DepthLimitExceeded,
    UndecodableBody,
)
from proxy.inspection.der_keys import armoured, private_key_kind, private_keys_within
from proxy.inspection.embedded import blind_stream, embedded_streams
from proxy.inspection.encoded_runs import decoded_runs, maybe_encoded
from proxy.inspection.fields import MIN_FIELD_CHARS
from proxy.inspection.readings import once_more_decompressed
from proxy.inspection.root_hints import UNKNOWN, RootHints
from proxy.inspection.textual import (
    MIN_STRINGS_RUN,
    bytes_as_text,
    is_text,
    is_utf8,
    printable_strings,
    text_runs,
)
from proxy.inspection.whole_text import (
    WHOLE_TEXT_STEPS,
    WIDE,
    hidden_texts,
    narrowed,
    normalise,
    whole_text_decodings,
)

DEFAULT_MAX_DEPTH = 3
MAX_VARIANTS = 1024  # variants yielded per input, besides the input itself
# A longer text that is not text (is_text) is binary data read as characters: only its runs of
# text are peeled (textual.text_runs).
MIN_BINARY_TEXT = 4096


class Layer(NamedTuple):
    """One text to scan and the decodings peeled to reach it, outermost first."""

    text: str
    layers: tuple[str, ...]


@dataclass
class _Budget:
    """What is left to spend on one input; overspending raises."""

    chars: int
    variants: int
    earned: int = 0  # characters granted for decompressed output so far

    def earn(self, output: int) -> None:
        """Decompressed output earns room for its own variants, as a body of that size would
        have (a base64 `.tgz` in a JSON body is a fifth of what it holds), up to
        MAX_PEEL_BUDGET in all: the decompression itself was bounded by what was left."""
        grant = min(PEEL_BUDGET_FACTOR * output, MAX_PEEL_BUDGET - self.earned)
        if grant > 0:
            self.earned += grant
            self.chars += grant

    def spend(self, text: str) -> None:
        """Charge one variant, or raise DecodeLimitExceeded when it does not fit."""
        self.variants -= 1
        self.chars -= len(text)
        if self.variants < 0 or self.chars < 0:
            raise DecodeLimitExceeded("hidden layers exceed the inspection budget")



# Layers that open a container whose own bytes may hold text besides what it decompresses to
_CONTAINERS = frozenset({"gzip", "zlib", "zstd", "xz", "bzip2", "zip"})

# Decoded text allowed per input byte: a source file of 100 KB has a variant for each
# whole-text decoding it holds an escape for (percent, backslash escapes, HTML references,
# form, quoted-printable, normalisations), each a copy of it, and 4 copies refused pip's own.
# The request hook gives each text this much (engine._budget), and decompressed output earns
# as much for its own variants (_Budget.earn); MAX_PEEL_BUDGET bounds each.
PEEL_BUDGET_FACTOR = 16
MAX_PEEL_BUDGET = 32 * 1024 * 1024

# What short decoded runs opened to, shared by the texts of one request: the same ids and
# tokens recur in its fields (a tool call's id, then the result that names it).
OpenedRuns = dict[bytes, "tuple[str, tuple[str, ...]] | None"]
MAX_REMEMBERED_RUN = 4096  # bytes: longer runs are rarely repeated and would hold memory
# What a caller knows how to tell of any text at once: (maybe_encoded(text), its RootHints)
Hinter = Callable[[str], "tuple[bool, RootHints]"]
# A variant at least this long is hinted (when the caller gives a Hinter) before its own
# peel: a whole-text rewrite (the text normalised) is as long as the text, and searching it
# without hints costs more than one hyperscan pass. Shorter ones (a decoded id) are cheaper
# to search than to hint.
MIN_HINTED_VARIANT = 128


def peel(text: str, *, max_depth: int = DEFAULT_MAX_DEPTH, max_bytes: int,
         opened: OpenedRuns | None = None, maybe: bool | None = None,
         hints: RootHints = UNKNOWN, hinter: Hinter | None = None,
         cpu: CpuBudget | None = None) -> Iterator[Layer]:
    """Yield `text` (no layers), then every decoded variant inside it, depth first.

    Raises DecodeLimitExceeded when the variants exceed MAX_VARIANTS or `max_bytes`.
    `opened` remembers decoded runs across calls (one request's texts): pass the same dict.
    `maybe` is `maybe_encoded(text)` when the caller already knows it; `hints`, what it knows
    of the text's contents (see RootHints and peel_hints); `hinter`, how to learn as much of a
    long variant (peel_hints.hint_of). Hints spare searches, never change what is yielded.
    Once `cpu` is spent (cpu_budget.py; each variant found earns its worth) it raises
    DecodeLimitExceeded: random tokens by the thousand each cost a decode and a look at what
    they give.
    """
    root = Layer(text, ())
    yield root
    if maybe is None:
        maybe = maybe_encoded(text)
    if not maybe and text.isascii():
        return
    peeler = _Peeler(max_depth, _Budget(max_bytes, MAX_VARIANTS), {text},
                     {} if opened is None else opened, hinter, cpu)
    if len(text) > MIN_BINARY_TEXT and not is_text(text):
        # Binary data read as characters (an image or archive upload): every whole-text
        # decoding or normalisation of it would be a copy of all of it, and four copies
        # overrun the budget. Its runs of text are what a receiver could read: they are peeled.
        runs = text_runs(text)
        if runs:
            peeler.budget.spend(runs)
            peeler.seen.add(runs)
            inner = Layer(runs, ("text_runs",))
            yield inner
            if hinter is not None:  # as long as the file's text: hinted, as in below()
                yield from peeler.below(inner, 0, *hinter(runs))
            else:
                yield from peeler.below(inner, 0)
            peeler.raise_if_deeper()
        return
    yield from peeler.below(root, 0, maybe, hints)
    peeler.raise_if_deeper()


@dataclass
class _Peeler:
    """The state of one peel: depth bound, budget and the texts already yielded."""

    max_depth: int
    budget: _Budget
    seen: set[str]
    opened: OpenedRuns
    hinter: Hinter | None = None  # see peel
    cpu: CpuBudget | None = None  # see peel
    beyond: list[str] = field(default_factory=list)  # texts one layer below the depth bound

    def below(self, parent: Layer, depth: int, maybe: bool | None = None,
              hints: RootHints = UNKNOWN) -> Iterator[Layer]:
        """Every new variant under `parent`, each followed by its own. `maybe`: what
        maybe_encoded(parent.text) is, when the caller knows; `hints`: see peel."""
        for text, names, cost in self._children(parent, depth, maybe, hints):
            if text in self.seen:
                continue
            self.budget.spend(text)
            if self.cpu is not None:
                self.cpu.earn(len(text))
            self.seen.add(text)
            child = Layer(text, parent.layers + names)
            yield child
            if self.hinter is not None and len(text) >= MIN_HINTED_VARIANT:
                yield from self.below(child, depth + cost, *self.hinter(text))
            else:
                yield from self.below(child, depth + cost)

    def _children(self, parent: Layer, depth: int, maybe: bool | None, hints: RootHints
                  ) -> Iterator[tuple[str, tuple[str, ...], int]]:
        """(text, layer names, depth cost) of the variants one step below `parent`."""
        text = parent.text
        # A variant made by rewriting the whole text is not rewritten whole again: the
        # decodings and normalisations of the whole text are undone together once, below.
        whole_done = bool(parent.layers) and parent.layers[-1] in WHOLE_TEXT_STEPS
        if WIDE not in parent.layers and (narrow := narrowed(text)) is not None:
            yield narrow, (WIDE,), 1
        if not text.isascii():
            if not whole_done:
                normalised, steps = normalise(text)
                if steps and normalised != text:
                    yield normalised, steps, 0
            yield from hidden_texts(text, parent.layers)
        if not (maybe_encoded(text) if maybe is None else maybe):
            return
        if depth >= self.max_depth:
            if self.max_depth > 0:
                for deeper in self._one_layer_deeper(text, whole_done, hints):
                    # Too short to hold anything, or a piece of the text itself ("3333" is the
                    # hex of "33"): no layer that hides something.
                    if len(deeper) >= MIN_FIELD_CHARS and deeper not in text \
                            and deeper not in self.seen:
                        self.budget.spend(deeper)  # kept until the end: work stays bounded
                        self.beyond.append(deeper)
            return
        if not whole_done:
            yield from whole_text_decodings(text, self.max_depth - depth, hints)
        for names, raw in decoded_runs(text, hints):
            self._within_deadline()
            opened = self._open_remembered(raw)
            if opened is not None:
                yield opened[0], (*names, *opened[1]), 1
            if names[0] in XOR_SOURCES:
                for xored in single_byte_xor(raw):
                    yield xored, (*names, XOR), 1

    def _one_layer_deeper(self, text: str, whole_done: bool, hints: RootHints) -> list[str]:
        """The texts one layer below `text`, at the depth bound: its decodings as a whole, and
        its runs that decode (and decompress) to text, not only to printable runs of binary."""
        deeper = [] if whole_done else [
            decoded for decoded, _, _ in whole_text_decodings(text, 1, hints)
            if _reads_anew(decoded, text)]
        for _, raw in decoded_runs(text, hints):
            self._within_deadline()
            opened = self._open_remembered(raw)
            if opened is not None and "strings" not in opened[1]:
                deeper.append(opened[0])
        return deeper

    def _within_deadline(self) -> None:
        """Raise DecodeLimitExceeded once the peel's CPU budget is spent (see peel)."""
        if self.cpu is not None and self.cpu.spent():
            raise DecodeLimitExceeded("peeling spent its CPU budget")

    def raise_if_deeper(self) -> None:
        """Raise DepthLimitExceeded when a text below the depth bound was not also found at a
        lower depth: what lies there is not looked into, so the caller blocks (a key base64'd
        four times would leave unscanned). Checked once every variant is known: a variant that
        decoded a whole text is a copy of it, whose runs the text's own peel opens too."""
        if any(text not in self.seen for text in self.beyond):
            raise DepthLimitExceeded(f"text nested deeper than {self.max_depth} layers")

    def _open_remembered(self, raw: bytes) -> tuple[str, tuple[str, ...]] | None:
        if len(raw) > MAX_REMEMBERED_RUN:
            return self._open(raw)
        if raw not in self.opened:
            self.opened[raw] = self._open(raw)
        return self.opened[raw]

    def _open(self, raw: bytes, names: tuple[str, ...] = (), compressed: int = 0
              ) -> tuple[str, tuple[str, ...]] | None:
        """Decoded bytes as text: decompressed (again and again, MAX_COMPRESSED_LAYERS deep,
        as a body is: readings.uncompressed_layers), directly, or their printable runs; and
        what the bytes hold besides (_hidden_in). `names`: the decompressions already undone,
        `compressed` how many."""
        limit = max(self.budget.chars, 0)
        first = self._first_reading(raw, names, compressed, limit)
        hidden = self._hidden_in(raw, names, compressed, limit, container=first is not None
                                 and len(first[1]) > len(names) and first[1][len(names)]
                                 in _CONTAINERS)
        if not hidden:
            return first
        if first is None:
            return "\n".join(hidden), (*names, "embedded")
        return "\n".join((first[0], *hidden)), first[1]

    def _first_reading(self, raw: bytes, names: tuple[str, ...], compressed: int, limit: int
                       ) -> tuple[str, tuple[str, ...]] | None:
        """What `raw` reads as from its first byte: a compressed stream, a key, a zip archive,
        text, raw deflate or Brotli, or else its printable runs."""
        fmt = sniff_format(raw)
        if fmt is not None:
            # With a magic number, damage is tolerated: what precedes it is what a receiver
            # reads. Empty output means the magic number was there by chance.
            try:
                output = decompress(fmt, raw, limit=limit, lenient=True)
            except UndecodableBody:
                output = b""
            if output:
                return self._opened(output, (*names, fmt), compressed)
        kind = private_key_kind(raw)
        if kind is not None:  # a key's DER without its PEM lines (base64 body, hex): read as PEM
            return armoured(raw, kind), (*names, "der")
        if raw.startswith(ZIP_MAGIC):  # a zip file in base64 (a JSON API's upload)
            members = self._zip(raw, names, compressed, limit)
            if members is not None:
                return members
        text = bytes_as_text(raw)
        if is_text(text):
            return text, names
        blind = blind_stream(raw, limit)
        if blind is not None:
            return self._opened(blind[1], (*names, blind[0]), compressed)
        strings = printable_strings(raw) if len(raw) >= MIN_STRINGS_RUN else ""
        return (strings, (*names, "strings")) if strings else None

    def _hidden_in(self, raw: bytes, names: tuple[str, ...], compressed: int, limit: int, *,
                   container: bool) -> list[str]:
        """What `raw` holds past its first reading, as a body's bytes are searched: streams
        after a prefix, a decoy or text (`b"\x00" + gzip(key)`, `text + gzip(key)`,
        `zlib(decoy) + gzip(key)`; embedded.py), a key's DER after a prefix or in a tar
        archive, and, for a container that was opened (`container`), its own printable runs:
        a gzip header's file name or comment, a zip member's name, a zip comment. Bytes that
        are UTF-8 text hold no stream and are not searched."""
        if is_utf8(raw):
            return []
        found = []
        for stream in embedded_streams(raw, limit, probe_blind=False):
            opened = self._opened(stream, (*names, "embedded"), compressed)
            if opened is not None:
                found.append(opened[0])
        found += private_keys_within(raw)
        if container and len(raw) >= MIN_STRINGS_RUN and (strings := printable_strings(raw)):
            found.append(strings)
        return found

    def _zip(self, raw: bytes, names: tuple[str, ...], compressed: int, limit: int
             ) -> tuple[str, tuple[str, ...]] | None:
        """The members of a zip archive, each opened in turn (as decompressed output: an
        archive counts against MAX_COMPRESSED_LAYERS like a compression), one text; None when
        `raw` only starts like one. A member that cannot be read (encrypted, a method Python
        lacks) refuses the text: a body with such a member is refused too."""
        try:
            members = zip_members(raw, limit)
        except UndecodableBody as error:
            raise DecodeLimitExceeded(f"zip archive inside a text: {error}") from None
        if not members:
            return None
        opened = [self._opened(member, (*names, "zip"), compressed) for member in members]
        texts = [found[0] for found in opened if found is not None]
        return ("\n".join(texts), (*names, "zip")) if texts else None

    def _opened(self, output: bytes, names: tuple[str, ...], compressed: int
                ) -> tuple[str, tuple[str, ...]] | None:
        """What one decompression's output opens to, or refusal past the bound."""
        compressed = once_more_decompressed(compressed)
        self.budget.earn(len(output))
        return self._open(output, names, compressed)



_PRINTABLE_RUN = re.compile(rf"[ -~]{{{MIN_FIELD_CHARS},}}")
MAX_ANEW_RUNS = 256  # runs looked up in the text, at most: past them a decoding counts


def _reads_anew(decoded: str, text: str) -> bool:
    """Whether a decoding of all of `text` shows a run of printable ASCII, MIN_FIELD_CHARS or
    longer, that `text` does not hold: what a layer hidden below the depth bound would show.
    Printable runs carved out of binary (an image's bytes) hold escapes by chance, `%c6`,
    that decode to a byte that is not text, between runs that were there already: no layer
    (an animated GIF sent as base64 was refused for it). Past MAX_ANEW_RUNS runs the answer
    is yes, which refuses rather than looks further."""
    for number, run in enumerate(_PRINTABLE_RUN.finditer(decoded)):
        if number >= MAX_ANEW_RUNS or run.group() not in text:
            return True
    return False
