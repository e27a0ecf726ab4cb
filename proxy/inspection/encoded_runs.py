"""Find the encoded runs inside a text and decode them to bytes (decoded_runs); and tell, at
a fraction of that cost, whether a text may hold anything to peel at all (maybe_encoded,
has_layers, has_grouped_base64).

Runs are found by alphabet (base64, base64url, base32, hex, base58), as base64 wrapped into
lines or cut into groups of one width, as bytes listed in hex, decimal, octal or binary, as
base85 and Ascii85 tokens and as uuencoded blocks; run_decoders.py decodes each. A run shorter
than the MIN_ constants below is not looked at.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from proxy.inspection.root_hints import UNKNOWN, RootHints
from proxy.inspection.run_decoders import (
    B58_ALPHABET,
    BASE85_DECODERS,
    b32,
    b58_text,
    b64,
    b64url,
    plausible_group,
    unhex,
    untwisted,
    uu_line_bytes,
)
from proxy.inspection.whole_text import (
    QP_ESCAPES,
    QP_SOFT_BREAK,
    has_quoted_printable,
    narrowed,
)

MIN_BASE64_RUN = 16  # characters: 12 decoded bytes; shorter runs are mostly ordinary words
MIN_BASE32_RUN = 16
MIN_HEX_RUN = 32  # a 16-byte value; shorter hex runs are colours, ids and short hashes
MIN_BASE58_RUN = 16  # characters: about 11 decoded bytes, as for base64
MIN_BASE85_RUN = 20  # characters: 16 decoded bytes
# Bytes written one by one with separators ("de:ad:be:ef", "0x41,0x4b", "65, 75, 73"): fewer
# are MAC addresses, times, versions and short lists of numbers.
MIN_LISTED_BYTES = 8
_BASE64 = re.compile(rf"[A-Za-z0-9+/]{{{MIN_BASE64_RUN},}}={{0,2}}")
_BASE64URL = re.compile(rf"[A-Za-z0-9_-]{{{MIN_BASE64_RUN},}}={{0,2}}")
_BASE32 = re.compile(rf"(?:[A-Z2-7]{{{MIN_BASE32_RUN},}}|[a-z2-7]{{{MIN_BASE32_RUN},}})={{0,6}}")
_HEX = re.compile(rf"[0-9A-Fa-f]{{{MIN_HEX_RUN},}}")
# A whole token of base58 (no 0, O, I or l), not a piece of a longer run of letters and digits.
_BASE58_TOKEN = re.compile(
    rf"(?<![A-Za-z0-9])[{B58_ALPHABET}]{{{MIN_BASE58_RUN},}}(?![A-Za-z0-9])")
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
_BASE64_LINE_RUN = re.compile(r"[A-Za-z0-9+/=]+")  # a line of a wrapped block, once found
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_LINE_END_STARTS = " \t\r\n"  # what may follow the first line of wrapped base64
# What must follow the first line of wrapped base64 (_BASE64_LINES): most runs in prose are
# followed by a space and a word, and are not walked back over.
_LINE_BREAK = re.compile(r"[ \t]*\r?\n")
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=]")
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
# (run_decoders.uu_line_bytes), tolerating the trailing spaces that `.strip()` removes.
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
    rf"|(?m:{_UU_HINT.pattern})|{QP_SOFT_BREAK.pattern}|{QP_ESCAPES.pattern}"
    rf"|{_GROUPED_HINT.pattern}"
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


def has_layers(text: str) -> bool:
    """Whether `text` may hold anything to peel: an encoded run, or characters to normalise."""
    return not text.isascii() or maybe_encoded(text)


def maybe_encoded(text: str, *, grouped: bool = True) -> bool:
    """Whether _MAYBE_ENCODED matches in `text`, at a fraction of its cost. `grouped=False`
    when the caller knows _GROUPED_HINT does not match (peel_hints)."""
    return bool(
        ("%" in text and _PERCENT_OR_U.search(text))
        or narrowed(text) is not None
        or ("\\" in text and _ESCAPE_HINT.search(text))
        or ("&" in text and _REFERENCE_HINT.search(text))
        or _RUN_HINT.search(text)
        or _LISTED_HINT.search(text)
        or (len(text) >= MIN_BINARY_CHARS and _BINARY_HINT.search(text))
        or (len(text) >= MIN_BASE85_RUN and _has_base85_token(text))
        or _UU_HINT.search(text)
        or has_quoted_printable(text)
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



def decoded_runs(text: str, hints: RootHints = UNKNOWN
                 ) -> Iterator[tuple[tuple[str, ...], bytes]]:
    """(layer names, bytes) for every run of base64, base64url, base32 or hex in `text`
    (base64 also reversed or rot13'd, see run_decoders.untwisted), base64 wrapped into lines
    or cut into groups of one width, and bytes listed in hex or decimal with separators.
    `hints` skip the searches they rule out."""
    spans: set[tuple[int, int]] = set()
    wrapped_end = covered_end = 0
    # Each alphabet is a subset of _ANY_RUN's, so each run lies inside one of its runs: looking
    # only there finds the same runs as looking everywhere, at a fraction of the cost on prose.
    for start, end in _areas(text, hints.areas):
        if (end < len(text) and text[end] in _LINE_END_STARTS and start >= wrapped_end
                and _LINE_BREAK.match(text, end)):
            # A block is tried once, from its first line, even when it opens to nothing:
            # trying again from each of its lines would be quadratic (a list of hashes).
            wrapped_end, joined, covers = _wrapped_base64(text, start, end)
            if joined:
                yield ("base64",), joined
                if covers:
                    covered_end = wrapped_end
        if end <= covered_end:
            # A line of a block read whole above, whose lines each hold whole 4-character
            # groups: its bytes are part of what the block gave. Decoded again one by one, the
            # 76-column lines of `base64 FILE` or a mail attachment made a variant each, past
            # MAX_VARIANTS from about 58 KB (honest round 3: refused as inspection_limit).
            continue
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
                    yield from untwisted(name, match.group(), decode)
        if upper and end - start >= MIN_BASE58_RUN:
            for match in _BASE58_TOKEN.finditer(text, start, end):
                if (raw := b58_text(match.group())) is not None:
                    yield ("base58",), raw
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
            if raw := b64(run):
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
    decoders = [d for d in BASE85_DECODERS if not d[1].search(token)]
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
            if not plausible_group(run, values):
                continue
            try:
                raw = decode(run)
            except ValueError:  # a group above 2**32 - 1, or Ascii85's "z" inside a group
                continue
            if raw:
                yield (name,), raw



def _wrapped_base64(text: str, area_start: int, line_end: int
                    ) -> tuple[int, bytes | None, bool]:
    """(end, bytes, covers) of base64 wrapped into two lines or more whose first line ends the
    area `text[area_start:line_end]` ("data=" and other glue before it left out); the bytes
    are None when there is no such block (end is then `line_end`) or it is not base64 of
    anything. `covers`: the block's first line starts its area, and every line but the last
    holds whole 4-character groups, so that the bytes are those of its lines decoded one by one,
    joined (lines of another width, each a base64 of its own, read apart differently)."""
    start = line_end
    while start > area_start and text[start - 1] in _BASE64_CHARS:
        start -= 1
    match = _BASE64_LINES.match(text, start)
    if match is None:
        return line_end, None, False
    run = _NOT_BASE64.sub("", match.group())
    if len(run) < 2 * MIN_BASE64_RUN or not _UPPER.search(run):
        return match.end(), None, False
    lines = _BASE64_LINE_RUN.findall(match.group())
    covers = start == area_start and all(len(line) % 4 == 0 for line in lines[:-1])
    return match.end(), b64(run), covers


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
            raw = uu_line_bytes(line.rstrip("\r"))
            if raw is None:
                break
            data += raw
        if len(data) >= MIN_UU_BYTES:
            yield bytes(data)



def _not_base64(run: str, span: tuple[int, int], spans: set[tuple[int, int]]) -> bool:
    """Skip a run already decoded (no + / - _: it matches both alphabets) or without any
    upper-case letter: hex ids, UUIDs and lower-case words. Base64 of text or of compressed
    data has upper-case letters (any byte 0x00-0x7F in the first of three positions gives one).
    """
    return span in spans or not _UPPER.search(run)


# (name, pattern, decoder, shortest run, whether a run needs an upper-case letter)
_FINDERS: tuple[tuple[str, re.Pattern[str], Callable[[str], bytes | None], int, bool], ...] = (
    ("base64", _BASE64, b64, MIN_BASE64_RUN, True),
    ("base64url", _BASE64URL, b64url, MIN_BASE64_RUN, True),
    ("base32", _BASE32, b32, MIN_BASE32_RUN, False),
    ("hex", _HEX, unhex, MIN_HEX_RUN, False),
)
