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
  "ascii85" (tokens of Python's `b85encode` and `a85encode`, see BASE85_SIGNS), and base64
  runs "reversed" or "rot13"'d after encoding (kept only when they decode to text);
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

Not caught here: runs shorter than the minimums below, base64 glued to letters before it
(misaligned unless the glue is a multiple of 4 characters), base85 tokens without a sign or
glued to a name other than by "=" or ":", uuencode inside a line, encodings other than those
named (custom alphabets, XOR; reversed and rot13 text are scanned, not peeled: see
transforms.py), and anything encrypted. Work is bounded: past MAX_VARIANTS variants or
`max_bytes` characters of decoded text, peel raises DecodeLimitExceeded (after yielding what
fit) so that the caller blocks rather than forwards what it could not look into; and a text
that holds one more layer of text below `max_depth` raises DepthLimitExceeded (one of those)
once all the variants within the bound are yielded.
"""

from __future__ import annotations

import base64
import binascii
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
from proxy.inspection.transforms import reversed_text, rot13
from proxy.inspection.whole_text import (
    QP_SOFT_BREAK,
    WHOLE_TEXT_STEPS,
    hidden_texts,
    normalise,
    whole_text_decodings,
)

DEFAULT_MAX_DEPTH = 3
MAX_VARIANTS = 1024  # variants yielded per input, besides the input itself
MIN_BASE64_RUN = 16  # characters: 12 decoded bytes; shorter runs are mostly ordinary words
MIN_BASE32_RUN = 16
MIN_HEX_RUN = 32  # a 16-byte value; shorter hex runs are colours, ids and short hashes
MIN_BASE58_RUN = 16  # characters: about 11 decoded bytes, as for base64
# Longer base58 tokens are not decoded: the decoding is Python code and a big-number conversion
# (0.7 ms for 4096 characters, about 0.2 µs a character below that: a 10 MiB body of such
# tokens costs about 2 s, as much as the rest of its inspection), and a 2048-bit RSA key in PEM
# takes about 2,300.
MAX_BASE58_RUN = 4096
MIN_BASE85_RUN = 20  # characters: 16 decoded bytes
# A longer text that is not text (is_text) is binary data read as characters: only its runs of
# text are peeled (textual.text_runs).
MIN_BINARY_TEXT = 4096
# Bytes written one by one with separators ("de:ad:be:ef", "0x41,0x4b", "65, 75, 73"): fewer
# are MAC addresses, times, versions and short lists of numbers.
MIN_LISTED_BYTES = 8
_BASE64 = re.compile(rf"[A-Za-z0-9+/]{{{MIN_BASE64_RUN},}}={{0,2}}")
_BASE64URL = re.compile(rf"[A-Za-z0-9_-]{{{MIN_BASE64_RUN},}}={{0,2}}")
_BASE32 = re.compile(rf"(?:[A-Z2-7]{{{MIN_BASE32_RUN},}}|[a-z2-7]{{{MIN_BASE32_RUN},}})={{0,6}}")
_HEX = re.compile(rf"[0-9A-Fa-f]{{{MIN_HEX_RUN},}}")
# A whole token of base58 (no 0, O, I or l), not a piece of a longer run of letters and digits.
_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_VALUES = {char: value for value, char in enumerate(_B58_ALPHABET)}
_B58_CHUNK = 9
_BASE58_TOKEN = re.compile(
    rf"(?<![A-Za-z0-9])[{_B58_ALPHABET}]{{{MIN_BASE58_RUN},}}(?![A-Za-z0-9])")
_UPPER = re.compile("[A-Z]")
# Base64 wrapped into lines (MIME, PEM, `base64` without -w0): two or more lines of at least
# MIN_BASE64_RUN characters, then an optional shorter last line; lines after the first may be
# indented or quoted ("> ") as in a mail reply. The first line is also a run of its own, so
# _MAYBE_ENCODED needs nothing new for it.
_BASE64_LINES = re.compile(
    rf"[A-Za-z0-9+/]{{{MIN_BASE64_RUN},}}"
    rf"(?:[ \t]*\r?\n[ \t>]*[A-Za-z0-9+/]{{{MIN_BASE64_RUN},}})*"
    r"[ \t]*\r?\n[ \t>]*(?:[A-Za-z0-9+/]+={0,2}|={1,2})(?=[ \t]*(?:\r?\n|$))"
)
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_LINE_END_STARTS = " \t\r\n"  # what may follow the first line of wrapped base64
# What must follow the first line of wrapped base64 (_BASE64_LINES): most runs in prose are
# followed by a space and a word, and are not walked back over.
_LINE_BREAK = re.compile(r"[ \t]*\r?\n")
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=]")
_BASE64_ALPHABET_ONLY = re.compile(r"[A-Za-z0-9+/]*")
# One byte in hex or in decimal, and what may separate two of them: ":" or "-", or a comma
# and/or white space. Not inside a word or a decimal number.
_HEX_BYTE = r"(?:0[xX])?[0-9A-Fa-f]{2}"
_DECIMAL_BYTE = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_BYTE_SEPARATOR = r"(?:[:-]|,?\s+|,)"
_HEX_LIST = re.compile(
    rf"(?<![0-9A-Za-z]){_HEX_BYTE}(?:{_BYTE_SEPARATOR}{_HEX_BYTE}){{{MIN_LISTED_BYTES - 1},}}"
    r"(?![0-9A-Za-z])"
)
_DECIMAL_LIST = re.compile(
    rf"(?<![\w.]){_DECIMAL_BYTE}(?:(?:,?\s+|,){_DECIMAL_BYTE}){{{MIN_LISTED_BYTES - 1},}}"
    r"(?![\w.])"
)
_HEX_LIST_NOISE = re.compile(r"0[xX]|[^0-9A-Fa-f]")
# Bytes written in binary, eight bits each, glued or separated (`01000001 01001011`,
# `0100000101001011`): at least MIN_LISTED_BYTES of them, not inside a longer word or number.
_BINARY_HINT = re.compile(rf"[01]{{8}}(?:[\s,:-]{{0,2}}[01]{{8}}){{{MIN_LISTED_BYTES - 1}}}")
MIN_BINARY_CHARS = 8 * MIN_LISTED_BYTES  # what _BINARY_HINT needs: shorter texts are not searched
_BINARY = re.compile(
    rf"(?<![0-9A-Za-z])[01]{{8}}(?:[\s,:-]{{0,2}}[01]{{8}}){{{MIN_LISTED_BYTES - 1},}}"
    r"(?![0-9A-Za-z])"
)
_NOT_BIT = re.compile(r"[^01]")
# Cheap test that a text may hold such a list, part of _MAYBE_ENCODED: a decimal digit, then
# MIN_LISTED_BYTES - 1 more separated bytes. No look-behind: it costs little beside the other
# alternatives. A hex list may be looked at only from a byte with a decimal digit: before the last
# MIN_LISTED_BYTES - 1 bytes, a list without one holds only bytes 0xAA-0xFF (no ASCII).
_LISTED_HINT = re.compile(
    rf"[0-9][xXoO]?[0-9A-Fa-f]{{0,3}}"
    rf"(?:{_BYTE_SEPARATOR}(?:0[xXoO])?[0-9A-Fa-f]{{1,4}}){{{MIN_LISTED_BYTES - 1}}}"
)
# Bytes listed in octal (`101 113 111 101`, Python's `oct()`: `0o101`, C's `0101`): values up
# to 0o377. A list of octal digits is also a decimal list (when no value passes 255): both
# readings are decoded, and the one that is not text yields nothing.
_OCTAL_BYTE = r"(?:0[oO]|0(?=[0-7]{3}))?[0-7]{1,3}"
_OCTAL_LIST = re.compile(
    rf"(?<![\w.]){_OCTAL_BYTE}(?:(?:,?\s+|,){_OCTAL_BYTE}){{{MIN_LISTED_BYTES - 1},}}"
    r"(?![\w.])"
)
_OCTAL_DIGITS = re.compile(r"(?:0[oO])?([0-7]+)")
# uuencode (`binascii.b2a_uu`, `codecs.encode(data, "uu")`): lines of a length character
# chr(32 + n) then 4 * ceil(n / 3) characters from " " to "`" (no lower-case letter), 45 bytes
# a line at most ("M"). A block starts with a line of MIN_UU_BYTES or more at the start of a
# line and goes on while lines of that shape follow; its length rule is checked per line
# (_uu_line_bytes), tolerating the trailing spaces that `.strip()` removes.
MIN_UU_BYTES = 12
UU_FIRST = chr(32 + MIN_UU_BYTES)  # ","
UU_SHORTEST = 4 * MIN_UU_BYTES // 3 - 3  # characters after the count, trailing spaces gone
_UU_HINT = re.compile(rf"^[{UU_FIRST}-M][ -`]{{{UU_SHORTEST}}}", re.MULTILINE)
_UU_BLOCK = re.compile(
    rf"^[{UU_FIRST}-M][ -`]{{{UU_SHORTEST},60}}\r?$"
    r"(?:\n[!-M][ -`]{1,60}\r?$)*",
    re.MULTILINE,
)
# Base64 cut into groups or short lines of one width (groups of four to read aloud, `fold -w 8`,
# `base64 -w 12`): tokens of GROUP_WIDTHS characters after white space, one space, tab or line
# break apart (lines may be indented or quoted with ">"). Three tokens of one width, one of them
# starting with GROUP_LEADS (base64 of text starts most groups of four with an upper-case letter;
# words of prose seldom start so), then a fourth, mark a text to peel (_GROUPED_HINT, in
# maybe_encoded). The run is every token of that width in a row and a last one no wider (its
# padding included; a shorter one only when it ends base64 padded to four characters, not a word
# after it), joined, MIN_BASE64_RUN characters or more with an upper-case letter (see
# _not_base64).
GROUP_WIDTHS = range(4, MIN_BASE64_RUN)
GROUP_SEPARATOR = r"(?:[ \t]|[ \t]*\r?\n[ \t>]*)"
GROUP_LEADS = "A-Z0-9+/"  # a character class: what one of the three tokens starts with


def grouped_hint_patterns() -> list[str]:
    """_GROUPED_HINT's alternatives after its left edge: per width, per token that leads."""
    return [
        GROUP_SEPARATOR.join(
            f"[{GROUP_LEADS}][A-Za-z0-9+/]{{{width - 1}}}" if token == leading
            else f"[A-Za-z0-9+/]{{{width}}}" for token in range(3))
        + GROUP_SEPARATOR + "[A-Za-z0-9+/]"
        for width in GROUP_WIDTHS for leading in range(3)
    ]


_GROUPED_HINT = re.compile(r"(?<!\S)(?:" + "|".join(grouped_hint_patterns()) + ")")
_GROUP_LEAD_CHARS = frozenset(c for c in map(chr, range(128)) if re.match(f"[{GROUP_LEADS}]", c))
# Where three tokens of GROUP_WIDTHS start, whatever their widths (compared in Python: one
# pattern, not one per width)
_THREE_TOKENS = re.compile(
    rf"(?<!\S)(?=([A-Za-z0-9+/]{{{GROUP_WIDTHS.start},{GROUP_WIDTHS.stop - 1}}}){GROUP_SEPARATOR}"
    rf"([A-Za-z0-9+/]{{{GROUP_WIDTHS.start},{GROUP_WIDTHS.stop - 1}}}){GROUP_SEPARATOR}"
    rf"([A-Za-z0-9+/]{{{GROUP_WIDTHS.start},{GROUP_WIDTHS.stop - 1}}}){GROUP_SEPARATOR}"
    r"[A-Za-z0-9+/])")
_NEXT_TOKEN = re.compile(rf"{GROUP_SEPARATOR}([A-Za-z0-9+/]+={{0,2}})(?![A-Za-z0-9+/=])")
# Base85 (`base64.b85encode`, git's and RFC 1924's alphabet) and Ascii85 (`a85encode`, Adobe's,
# with or without its `<~ ~>`) use nearly every printable ASCII character, so a run of them is a
# token: MIN_BASE85_RUN or more characters without white space. Most such tokens are paths,
# URLs, identifiers and base64; a token is decoded only when it holds a character of
# BASE85_SIGNS (punctuation that base85 uses and those do not), which a base85 token of 20
# characters lacks about one time in 300 (measured: 0.1% for Base85, 0.3% for Ascii85).
BASE85_SIGNS = "!\"#$%&'()*,;<=>?@[\\]^`{|}~"
_BASE85_TOKEN = re.compile(rf"(?<![!-~])[!-~]{{{MIN_BASE85_RUN},}}")
_BASE85_SIGN = re.compile(f"[{re.escape(BASE85_SIGNS)}]")
# Whether a text holds such a token, part of _MAYBE_ENCODED (the reference; maybe_encoded
# uses _has_base85_token).
_BASE85_HINT = re.compile(
    rf"(?<![!-~])(?=[!-~]{{{MIN_BASE85_RUN}}})[!-~]*?[{re.escape(BASE85_SIGNS)}]")
# Cheap test that a text may hold anything to decode at all (see maybe_encoded).
_MAYBE_ENCODED = re.compile(
    rf"%[0-9A-Fa-f]{{2}}|[A-Za-z0-9+/_-]{{{MIN_BASE64_RUN},}}|\\[xuU0-7]|%u[0-9A-Fa-f]{{4}}|&#?\w+;"
    rf"|{_LISTED_HINT.pattern}|{_BINARY_HINT.pattern}|{_BASE85_HINT.pattern}"
    rf"|(?m:{_UU_HINT.pattern})|{QP_SOFT_BREAK.pattern}|{_GROUPED_HINT.pattern}"
)
# _MAYBE_ENCODED's alternatives one by one, those that need a character most texts lack only
# when it is there: `re` scans a text once per alternative it cannot rule out by the first
# character, so the single alternation costs about as much as all of them (80 against 50 µs
# over the fields of the bench body).
_PERCENT_OR_U = re.compile(r"%[0-9A-Fa-f]{2}|%u[0-9A-Fa-f]{4}")
_ESCAPE_HINT = re.compile(r"\\[xuU0-7]")
_REFERENCE_HINT = re.compile(r"&#?\w+;")
_RUN_HINT = re.compile(rf"[A-Za-z0-9+/_-]{{{MIN_BASE64_RUN}}}")
# The union of the run alphabets (with padding), at the shortest run length.
MIN_AREA = min(MIN_BASE64_RUN, MIN_BASE32_RUN)
ANY_RUN_CHARS = "A-Za-z0-9+/_=-"  # a character class: every alphabet's characters
_ANY_RUN = re.compile(rf"[{ANY_RUN_CHARS}]{{{MIN_AREA},}}")
_AREA_REST = re.compile(rf"[{ANY_RUN_CHARS}]*")
_BASE32_VALID_TAIL = {0, 2, 4, 5, 7}  # characters in the last 8-character group


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


def has_layers(text: str) -> bool:
    """Whether `text` may hold anything to peel: an encoded run, or characters to normalise."""
    return not text.isascii() or maybe_encoded(text)


def maybe_encoded(text: str, *, grouped: bool = True) -> bool:
    """Whether _MAYBE_ENCODED matches in `text`, at a fraction of its cost. `grouped=False`
    when the caller knows _GROUPED_HINT does not match (peel_hints)."""
    return bool(
        ("%" in text and _PERCENT_OR_U.search(text))
        or ("\\" in text and _ESCAPE_HINT.search(text))
        or ("&" in text and _REFERENCE_HINT.search(text))
        or _RUN_HINT.search(text)
        or _LISTED_HINT.search(text)
        or (len(text) >= MIN_BINARY_CHARS and _BINARY_HINT.search(text))
        or (len(text) >= MIN_BASE85_RUN and _has_base85_token(text))
        or _UU_HINT.search(text)
        or (("=\n" in text or "=\r" in text) and QP_SOFT_BREAK.search(text))
        or (grouped and has_grouped_base64(text))
    )


def has_grouped_base64(text: str) -> bool:
    """Whether _GROUPED_HINT matches in `text`, at a fraction of its cost."""
    return any(len(first) == len(second) == len(third) and (
        first[0] in _GROUP_LEAD_CHARS or second[0] in _GROUP_LEAD_CHARS
        or third[0] in _GROUP_LEAD_CHARS) for first, second, third in _THREE_TOKENS.findall(text))


def _grouped_base64(text: str) -> Iterator[str]:
    """Every run of base64 cut into groups of one width (see _GROUPED_HINT), joined."""
    end = 0
    for match in _THREE_TOKENS.finditer(text):
        first, second, third = match.groups()
        if match.start() < end or not len(first) == len(second) == len(third):
            continue
        width, tokens, end = len(first), [first], match.start() + len(first)
        while (token := _NEXT_TOKEN.match(text, end)) is not None:
            piece = token.group(1)
            if len(piece) > width or (len(piece) < width and len(tokens) < 3):
                break
            if len(piece) < width and (width * len(tokens) + len(piece)) % 4 and not (
                    piece.endswith("=")):
                break  # a shorter word that would not end padded base64: not the last group
            tokens.append(piece)
            end = token.end()
            if len(piece) < width or piece.endswith("="):  # the last, shorter or padded
                break
        run = "".join(tokens)
        if len(tokens) >= 3 and len(run) >= MIN_BASE64_RUN and _UPPER.search(run):
            yield run


def _has_base85_token(text: str) -> bool:
    """What _BASE85_HINT says, faster: it looks ahead at every character."""
    return any(True for _ in _base85_tokens(text))


def _base85_tokens(text: str) -> Iterator[str]:
    """Every _BASE85_TOKEN in `text` that holds a BASE85_SIGNS character. str.split finds the
    words in C; only a long word with a character outside printable ASCII is searched again."""
    for word in text.split():
        if len(word) < MIN_BASE85_RUN:
            continue
        if word.isascii() and word.isprintable():  # one token: all of it is [!-~]
            if _BASE85_SIGN.search(word):
                yield word
        else:
            yield from (token for token in _BASE85_TOKEN.findall(word)
                        if _BASE85_SIGN.search(token))


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
        for names, raw in _decoded_runs(text, hints):
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
        for _, raw in _decoded_runs(text, hints):
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


def _decoded_runs(text: str, hints: RootHints = UNKNOWN
                  ) -> Iterator[tuple[tuple[str, ...], bytes]]:
    """(layer names, bytes) for every run of base64, base64url, base32 or hex in `text`
    (base64 also reversed or rot13'd, see _untwisted), base64 wrapped into lines or cut into
    groups of one width, and bytes listed in hex or decimal with separators. `hints` skip the
    searches they rule out."""
    spans: set[tuple[int, int]] = set()
    wrapped_end = 0
    # Each alphabet is a subset of _ANY_RUN's, so each run lies inside one of its runs: looking
    # only there finds the same runs as looking everywhere, at a fraction of the cost on prose.
    for start, end in _areas(text, hints.areas):
        # Finders that cannot match here are skipped: base64 wants an upper-case letter (see
        # _not_base64), hex a longer run. Most areas are paths and snake_case words.
        upper = _UPPER.search(text, start, end) is not None
        for name, pattern, decode, min_run, needs_upper in _FINDERS:
            if end - start < min_run or (needs_upper and not upper):
                continue
            for match in pattern.finditer(text, start, end):
                if needs_upper and _not_base64(match.group(), match.span(), spans):
                    continue
                spans.add(match.span())
                raw = decode(match.group())
                if raw:
                    yield (name,), raw
                if needs_upper:
                    yield from _untwisted(name, match.group(), decode)
        if upper and end - start >= MIN_BASE58_RUN:
            for match in _BASE58_TOKEN.finditer(text, start, end):
                if (raw := _b58_text(match.group())) is not None:
                    yield ("base58",), raw
        if (end < len(text) and text[end] in _LINE_END_STARTS and start >= wrapped_end
                and _LINE_BREAK.match(text, end)):
            # A block is tried once, from its first line, even when it opens to nothing:
            # trying again from each of its lines would be quadratic (a list of hashes).
            wrapped_end, joined = _wrapped_base64(text, start, end)
            if joined:
                yield ("base64",), joined
    if hints.listed and _LISTED_HINT.search(text):  # most texts have no list of bytes
        yield from _listed_bytes(text)
    if hints.binary and len(text) >= MIN_BINARY_CHARS and _BINARY_HINT.search(text):
        for match in _BINARY.finditer(text):
            bits = _NOT_BIT.sub("", match.group())
            yield ("binary",), int(bits, 2).to_bytes(len(bits) // 8, "big")
    if hints.base85 and len(text) >= MIN_BASE85_RUN:
        for token in _base85_tokens(text):
            yield from _base85_runs(token)
    if hints.uu and _UU_HINT.search(text):  # most texts: no line of upper case, digits, signs
        yield from ((("uu",), raw) for raw in _uu_blocks(text))
    if hints.grouped:
        for run in _grouped_base64(text):
            if raw := _b64(run):
                yield ("base64",), raw


def _areas(text: str, starts: tuple[int, ...] | None) -> Iterator[tuple[int, int]]:
    """(start, end) of every run of _ANY_RUN in `text`; from their `starts` when known (found
    by peel_hints' pass, which spares searching a long text character by character)."""
    if starts is None:
        yield from (area.span() for area in _ANY_RUN.finditer(text))
        return
    for start in starts:
        rest = _AREA_REST.match(text, start + MIN_AREA)
        assert rest is not None  # "*": it matches, if only the empty string
        yield start, rest.end()


def _base85_runs(token: str) -> Iterator[tuple[tuple[str, ...], bytes]]:
    """(("base85",) or ("ascii85",), bytes) for a token that decodes in either alphabet to
    bytes that start as ASCII or as compressed data: the token itself (Ascii85's `<~ ~>` frame
    left out), and what follows its first "=" or ":" (a query's or a form's `name=`, a
    header-like `key:` glued before the value, which would shift the five-character groups)."""
    if token.startswith("<~") and token.endswith("~>"):
        token = token[2:-2]
    decoders = [d for d in _BASE85_DECODERS if not d[1].search(token)]
    if not decoders:  # most long words: paths, URLs, code (`"a/b.go",`, `f(x){`)
        return
    starts = {0}
    for glue in "=:":
        cut = token.find(glue, 0, 64)
        if cut >= 0 and len(token) - cut - 1 >= MIN_BASE85_RUN:
            starts.add(cut + 1)
    for start in sorted(starts):
        run = token[start:]
        for name, _, decode, values in decoders:
            # The first group decides for most tokens: random text decodes to bytes that are
            # neither ASCII nor a compression magic number fifteen times in sixteen, and the
            # decoders are Python code.
            if not _plausible_group(run, values):
                continue
            try:
                raw = decode(run)
            except ValueError:  # a group above 2**32 - 1, or Ascii85's "z" inside a group
                continue
            if raw:
                yield (name,), raw


def _plausible_group(run: str, values: dict[str, int]) -> bool:
    """Whether the first five characters of `run` spell four ASCII bytes, or the start of
    gzip, zlib or zstd data."""
    value = 0
    for char in run[:5]:
        digit = values.get(char)
        if digit is None:  # Ascii85's "z" (four zero bytes) or the `~>` end: not text
            return False
        value = value * 85 + digit
    if value >= 2**32:
        return False
    return (not value & 0x80808080 or value >> 16 == 0x1F8B or value == 0x28B52FFD
            or (value >> 24 == 0x78 and (value >> 16) & 0xFF in _ZLIB_LEVELS))


_ZLIB_LEVELS = frozenset({0x01, 0x5E, 0x9C, 0xDA})  # the second byte of a zlib stream


_B85_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~"
_B85_VALUES = {char: value for value, char in enumerate(_B85_CHARS)}
_A85_VALUES = {chr(33 + value): value for value in range(85)}  # "!" to "u"

# (name, a character outside the alphabet, decoder, value of each character of a group)
_BASE85_DECODERS: tuple[tuple[str, re.Pattern[str], Callable[[str], bytes], dict[str, int]],
                        ...] = (
    ("base85", re.compile(f"[^{re.escape(_B85_CHARS)}]"), base64.b85decode, _B85_VALUES),
    ("ascii85", re.compile("[^!-uz]"), base64.a85decode, _A85_VALUES),  # "z": four zero bytes
)


# Base64 reversed or rot13'd after encoding (`b64encode(key)[::-1]`): a line of code to write,
# and the run then decodes to noise. Each base64 run is also decoded with the twist undone and
# kept only when that gives ASCII text. ASCII bytes start every four-character group with one of
# _ASCII_LEADS (a byte below 0x80 puts a value below 32 in its first six bits): random ids fail
# that on two groups three times in four, before anything is decoded.
_ASCII_LEADS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef")
_ROT13_ASCII_LEADS = frozenset(rot13("".join(_ASCII_LEADS)))


def _untwisted(name: str, run: str, decode: Callable[[str], bytes | None]
               ) -> list[tuple[tuple[str, ...], bytes]]:
    """What `run`, reversed or rot13'd back, decodes to with `decode` (the finder's), when that
    is ASCII text."""
    body = run.rstrip("=")
    if len(body) < 8:
        return []
    found: list[tuple[tuple[str, ...], bytes]] = []
    for twist, undo, leads, first, second in (
            ("reversed", reversed_text, _ASCII_LEADS, -1, -5),
            ("rot13", rot13, _ROT13_ASCII_LEADS, 0, 4)):
        if body[first] not in leads or body[second] not in leads:
            continue
        raw = decode(undo(body))
        if raw and raw.isascii() and is_text(raw.decode("ascii")):
            found.append(((twist, name), raw))
    return found


def _wrapped_base64(text: str, area_start: int, line_end: int) -> tuple[int, bytes | None]:
    """(end, bytes) of base64 wrapped into two lines or more whose first line ends the area
    `text[area_start:line_end]` ("data=" and other glue before it left out); the bytes are
    None when there is no such block (end is then `line_end`) or it is not base64 of anything.
    """
    start = line_end
    while start > area_start and text[start - 1] in _BASE64_CHARS:
        start -= 1
    match = _BASE64_LINES.match(text, start)
    if match is None:
        return line_end, None
    run = _NOT_BASE64.sub("", match.group())
    if len(run) < 2 * MIN_BASE64_RUN or not _UPPER.search(run):
        return match.end(), None
    return match.end(), _b64(run)


def _listed_bytes(text: str) -> Iterator[tuple[tuple[str, ...], bytes]]:
    """(("hex",), ("decimal_bytes",) or ("octal_bytes",), bytes) for every list of
    MIN_LISTED_BYTES bytes or more."""
    for match in _HEX_LIST.finditer(text):
        yield ("hex",), bytes.fromhex(_HEX_LIST_NOISE.sub("", match.group()))
    for match in _DECIMAL_LIST.finditer(text):
        numbers = re.findall(r"[0-9]+", match.group())
        yield ("decimal_bytes",), bytes(int(number) for number in numbers)
    for match in _OCTAL_LIST.finditer(text):
        values = [int(digits, 8) for digits in _OCTAL_DIGITS.findall(match.group())]
        if max(values) <= 0o377:
            yield ("octal_bytes",), bytes(values)


def _uu_blocks(text: str) -> Iterator[bytes]:
    """The bytes of every uuencoded block (see _UU_BLOCK) whose lines keep the length rule,
    up to its first line that does not; MIN_UU_BYTES or more."""
    for match in _UU_BLOCK.finditer(text):
        data = bytearray()
        for line in match.group().split("\n"):
            raw = _uu_line_bytes(line.rstrip("\r"))
            if raw is None:
                break
            data += raw
        if len(data) >= MIN_UU_BYTES:
            yield bytes(data)


def _uu_line_bytes(line: str) -> bytes | None:
    """The bytes of one uuencoded line, or None when its length does not match its count."""
    count = ord(line[0]) - 32
    expected = 4 * -(-count // 3)
    if not expected - 3 <= len(line) - 1 <= expected:  # `.strip()` may take trailing spaces
        return None
    try:
        return binascii.a2b_uu(line)
    except binascii.Error:
        return None


def _not_base64(run: str, span: tuple[int, int], spans: set[tuple[int, int]]) -> bool:
    """Skip a run already decoded (no + / - _: it matches both alphabets) or without any
    upper-case letter: hex ids, UUIDs and lower-case words. Base64 of text or of compressed
    data has upper-case letters (any byte 0x00-0x7F in the first of three positions gives one).
    """
    return span in spans or not _UPPER.search(run)


def _b64(run: str) -> bytes | None:
    """Standard base64, padding optional; a dangling last character is dropped."""
    body = run.rstrip("=")
    body = body[: len(body) - len(body) % 4] if len(body) % 4 == 1 else body
    if not _BASE64_ALPHABET_ONLY.fullmatch(body):  # b64decode(validate=True) refuses these
        return None
    try:
        # No length of 1 modulo 4 is left and the padding is ours: this never fails, but
        # a2b_base64 states that better than a comment would.
        return binascii.a2b_base64(body + "=" * (-len(body) % 4))
    except binascii.Error:
        return None


def _b64url(run: str) -> bytes | None:
    """URL-safe base64 (RFC 4648 section 5)."""
    return _b64(run.translate(_URLSAFE_TO_STANDARD))


_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")


def _b32(run: str) -> bytes | None:
    """Base32, either case, padding optional; trailing characters that cannot end one dropped."""
    body = run.rstrip("=").upper()
    while body and len(body) % 8 not in _BASE32_VALID_TAIL:
        body = body[:-1]
    try:
        return base64.b32decode(body + "=" * (-len(body) % 8))
    except binascii.Error:
        return None


def _b58_text(token: str) -> bytes | None:
    """A base58 token (Bitcoin's alphabet: IPFS ids, Solana keys, `base58.b58encode`) decoded,
    when it decodes to UTF-8 text; else None. Binary is not opened further: base58 carries
    keys and hashes, not compressed data, and most tokens in its alphabet are random ids."""
    if len(token) > MAX_BASE58_RUN:
        return None
    value = 0
    # Nine digits at a time: a big-number multiplication per nine characters, not per one.
    for at in range(0, len(token), _B58_CHUNK):
        chunk = token[at:at + _B58_CHUNK]
        digits = 0
        for char in chunk:
            digits = digits * 58 + _B58_VALUES[char]
        value = value * 58 ** len(chunk) + digits
    zeros = len(token) - len(token.lstrip("1"))  # each leading "1" is a zero byte
    raw = b"\0" * zeros + value.to_bytes((value.bit_length() + 7) // 8, "big")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return raw if is_text(text) else None


def _hex(run: str) -> bytes:
    """Hex, an odd last digit dropped."""
    return bytes.fromhex(run[: len(run) - len(run) % 2])


# (name, pattern, decoder, shortest run, whether a run needs an upper-case letter)
_FINDERS: tuple[tuple[str, re.Pattern[str], Callable[[str], bytes | None], int, bool], ...] = (
    ("base64", _BASE64, _b64, MIN_BASE64_RUN, True),
    ("base64url", _BASE64URL, _b64url, MIN_BASE64_RUN, True),
    ("base32", _BASE32, _b32, MIN_BASE32_RUN, False),
    ("hex", _HEX, _hex, MIN_HEX_RUN, False),
)
