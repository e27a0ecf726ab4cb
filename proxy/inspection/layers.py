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
variant (_whole_text_decodings); a variant made by one of them is not rewritten whole again.

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
import html
import re
import string
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import unquote, unquote_plus

from proxy.inspection.archives import ZIP_MAGIC, zip_members
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
from proxy.inspection.textual import (
    MIN_STRINGS_RUN,
    bytes_as_text,
    is_text,
    is_utf8,
    printable_strings,
    readable,
    text_runs,
)
from proxy.inspection.transforms import KEY_STARTS, reversed_text, rot13

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
# Zero-width and invisible formatting characters, dropped by the "zero_width" variant.
INVISIBLE_CHARS = "\u00ad\u180e\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff"
# Cyrillic and Greek letters that look like Latin ones (NFKC leaves them alone): a key written
# with a Cyrillic A (U+0410) reads the same to whoever receives it. The "confusables" variant
# folds them.
CONFUSABLES = {
    **dict(zip(  # Cyrillic
        "\u0410\u0412\u0415\u0405\u0406\u0408\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0425\u0423"
        "\u0430\u0435\u0456\u0458\u043e\u0440\u0441\u0445\u0443\u0455\u04bb\u0501\u051b\u051d\u04ae",
        "ABESIJKMHOPCTXYaeijopcxyshdqwY", strict=True)),
    **dict(zip(  # Greek
        "\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4\u03a5\u03a7"
        "\u03b1\u03bf\u03c1\u03b9\u03c5\u03bd",
        "ABEZHIKMNOPTYXaopiuv", strict=True)),
}

_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
# A key=value pair whose unquoted value has a "+": form or query encoding, not base64 padding.
_FORM_PAIR_WITH_PLUS = re.compile(r"(?:^|[&?;\s])[\w.\-\[\]]+=[^&\s\"']*\+")
# What every such pair holds, and `re` finds fast (a literal first): most texts with a "+"
# (code, diffs) have no "=" before one, and are not searched with the pattern above.
_EQUALS_THEN_PLUS = re.compile(r"=[^&\s\"']*\+")
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
# Quoted-printable (`quopri`, MIME's Content-Transfer-Encoding) breaks lines longer than 76
# characters with a soft line break, "=" at the end of a line, which can fall inside a key.
# Decoded when a text has one inside a word: not after white space or "=" (`x =`, a line of
# "=====" under a heading).
_QP_SOFT_BREAK = re.compile(r"[!-<>-~]=\r?\n[!-~]")
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
_INVISIBLE = re.compile(f"[{INVISIBLE_CHARS}]")
# Visible marks put between or over a key's characters: combining marks (accents over every
# letter, a keycap `1\ufe0f\u20e3` around each digit) once the text is decomposed, and dots
# set between letters (`A·K·I·A`). The normalised variant goes without them.
_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
                    "\ufe0e\ufe0f\u00b7\u2027\u2219\u22c5\u2022\u30fb]")
# Dashes and minus signs that are not "-" (NFKC leaves them): read as "-", so that a card or a
# key in groups joined by them is read as one joined by hyphens
_DASHES = re.compile("[\u2010-\u2015\u2043\u2212\u2e3a\u2e3b\ufe58]")
_CONFUSABLE = re.compile(f"[{''.join(CONFUSABLES)}]")
# "ASCII smuggling": Unicode tag characters U+E0020-E007E are invisible copies of ASCII 0x20-0x7E,
# and a language model reads them. The "tags" variant is the hidden text they spell.
_TAG_RUN = re.compile("[\U000E0020-\U000E007E]+")
_UNTAG = {code: code - 0xE0000 for code in range(0xE0020, 0xE007F)}
# Bytes smuggled as variation selectors after a visible character (an emoji that carries a
# payload). Honest text has one selector at a time (U+FE0F after an emoji): a run of
# MIN_SELECTOR_RUN is a payload.
MIN_SELECTOR_RUN = 8
_SELECTOR_RUN = re.compile(f"[\uFE00-\uFE0F\U000E0100-\U000E01EF]{{{MIN_SELECTOR_RUN},}}")
_FOLD_CONFUSABLES = str.maketrans(CONFUSABLES)
# Decoded bytes may be text XOR'd with one byte: see _single_byte_xor. Known key starts
# (transforms.KEY_STARTS of four characters or more: a shorter signature turns up in random
# bytes) are looked for in the XOR of neighbouring bytes, which the key cancels out of.
MIN_XOR_BYTES = 16
XOR = "xor"  # the layer of a reading XOR'd with one byte: see reads_personal_data
XOR_MAX_READINGS = 4
XOR_MIN_VALUES = 8  # distinct byte values at least: a key alone has more than that
# The dense encodings an XOR'd payload travels in. Not lists of byte values: a list of small
# numbers (`0 1 2 ... 17`) is control bytes, which XOR'd with 0x68 read `hijklmno...`.
XOR_SOURCES = frozenset({"base64", "base64url", "base32", "hex", "base85", "ascii85", "base58",
                         "uu"})
XOR_PROSE_SHARE = 0.6  # a reading this much lower-case letters and spaces is prose
_PROSE_BYTES = bytes(range(ord("a"), ord("z") + 1)) + b" "  # what most of prose is
_WORD_BYTES = (string.ascii_letters + string.digits + " \t\r\n").encode()  # and of a text
XOR_WORD_SHARE = 0.7
_PRINTABLE_BYTES = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}
# byte value -> the keys that XOR it into printable ASCII
_PRINTABLE_KEYS = tuple(frozenset(key for key in range(256) if value ^ key in _PRINTABLE_BYTES)
                        for value in range(256))
# signature (the XOR of a start's neighbouring bytes) -> the start's first byte
_XOR_FIRST = {
    bytes(a ^ b for a, b in zip(start.encode(), start.encode()[1:], strict=False)):
        start.encode()[0]
    for start in KEY_STARTS if len(start) >= 4}
_XOR_SIGNATURE = re.compile(b"|".join(map(re.escape, sorted(_XOR_FIRST, key=len, reverse=True))))
_XOR_TABLES = tuple(bytes(byte ^ key for byte in range(256)) for key in range(256))
# Text hidden as bits in zero-width characters (zero-width steganography: U+200B and U+200C
# for 0 and 1, U+200D between characters, and the like). Honest text has them one at a time
# (a joiner inside an emoji sequence): a run of MIN_ZERO_WIDTH_RUN is a payload.
ZERO_WIDTH_BITS = "\u200b\u200c\u200d\u2060\ufeff"
MIN_ZERO_WIDTH_RUN = 40  # five bytes at eight bits each
_ZERO_WIDTH_RUN = re.compile(f"[{ZERO_WIDTH_BITS}]{{{MIN_ZERO_WIDTH_RUN},}}")
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
    rf"|(?m:{_UU_HINT.pattern})|{_QP_SOFT_BREAK.pattern}|{_GROUPED_HINT.pattern}"
)
# _MAYBE_ENCODED's alternatives one by one, those that need a character most texts lack only
# when it is there: `re` scans a text once per alternative it cannot rule out by the first
# character, so the single alternation costs about as much as all of them (80 against 50 µs
# over the fields of the bench body).
_PERCENT_OR_U = re.compile(r"%[0-9A-Fa-f]{2}|%u[0-9A-Fa-f]{4}")
_ESCAPE_HINT = re.compile(r"\\[xuU0-7]")
_REFERENCE_HINT = re.compile(r"&#?\w+;")
_RUN_HINT = re.compile(rf"[A-Za-z0-9+/_-]{{{MIN_BASE64_RUN}}}")
# Backslash escapes as C, Python, JavaScript and shells write them, and JavaScript's %uNNNN.
# `\u{1F600}` and `\x{41}` (JavaScript, Rust, Swift, Perl), and octal of two or three digits
# (`\101`, and `\60` as C and shells read it; one digit is a control character, and `\1` a
# regular expression's back-reference).
_BACKSLASH_ESCAPE = re.compile(
    r"\\x(?P<x>[0-9A-Fa-f]{2})|\\u(?P<u>[0-9A-Fa-f]{4})|%u(?P<pu>[0-9A-Fa-f]{4})"
    r"|\\U(?P<big>[0-9A-Fa-f]{8})|\\[xu]\{(?P<braced>[0-9A-Fa-f]{1,6})\}|\\(?P<octal>[0-7]{2,3})"
)
# CSS escapes: hex digits, and the one space that may end them (`\67 \68 `). The same text
# read as C would be octal: each reading is a variant of its own. Two digits at least: a
# character worth hiding is, and `\b`, `\d` and `\f` are paths and regular expressions.
_CSS_ESCAPE = re.compile(r"\\([0-9A-Fa-f]{2,6})[ \t]?")
_HTML_REFERENCE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});?")
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


class RootHints(NamedTuple):
    """What one pass over all of a request's texts (peel_hints) already knows of one of them,
    so that peeling it skips searches whose answer is known. A False is certain: the pattern
    cannot match in the text. `areas`, when known, are where the runs of _ANY_RUN start, in
    order. Only the text itself is spared: what is decoded from it is searched in full."""

    base85: bool = True  # may hold a base85 token (_base85_tokens)
    escapes: bool = True  # _BACKSLASH_ESCAPE may match
    listed: bool = True  # _LISTED_HINT may match
    binary: bool = True  # _BINARY_HINT may match
    uu: bool = True  # _UU_HINT may match
    soft_break: bool = True  # _QP_SOFT_BREAK may match
    grouped: bool = True  # _GROUPED_HINT may match
    areas: tuple[int, ...] | None = None


UNKNOWN = RootHints()


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


WIDE = "wide"  # the layer of UTF-16 or UTF-32 text read one byte a character: see _narrowed
MIN_WIDE_NULS = 8


def _narrowed(text: str) -> str | None:
    """`text` without its NUL characters, when it holds MIN_WIDE_NULS or more: UTF-16 or UTF-32
    text of ASCII characters that reached us one byte a character (percent-encoded bytes, a
    JSON string of `\u0000` escapes, a form value) shows every other character, or three in
    four, as a NUL, in either byte order; without them it reads as what it says, a BOM aside
    (U+FFFD or `ÿþ`, harmless). Whole bodies are read by their codec (textual.sniff_wide_codec);
    this is for text inside a field, where a key in UTF-16 went through every channel (red team
    exfil5). Honest text holds no NUL."""
    if "\x00" not in text or text.count("\x00") < MIN_WIDE_NULS:
        return None
    return text.replace("\x00", "")


def has_layers(text: str) -> bool:
    """Whether `text` may hold anything to peel: an encoded run, or characters to normalise."""
    return not text.isascii() or maybe_encoded(text)


def maybe_encoded(text: str, *, grouped: bool = True) -> bool:
    """Whether _MAYBE_ENCODED matches in `text`, at a fraction of its cost. `grouped=False`
    when the caller knows _GROUPED_HINT does not match (peel_hints)."""
    return bool(
        ("%" in text and _PERCENT_OR_U.search(text))
        or _narrowed(text) is not None
        or ("\\" in text and _ESCAPE_HINT.search(text))
        or ("&" in text and _REFERENCE_HINT.search(text))
        or _RUN_HINT.search(text)
        or _LISTED_HINT.search(text)
        or (len(text) >= MIN_BINARY_CHARS and _BINARY_HINT.search(text))
        or (len(text) >= MIN_BASE85_RUN and _has_base85_token(text))
        or _UU_HINT.search(text)
        or (("=\n" in text or "=\r" in text) and _QP_SOFT_BREAK.search(text))
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
        if WIDE not in parent.layers and (narrowed := _narrowed(text)) is not None:
            yield narrowed, (WIDE,), 1
        if not text.isascii():
            if not whole_done:
                normalised, steps = _normalise(text)
                if steps and normalised != text:
                    yield normalised, steps, 0
            yield from _hidden(text, parent.layers)
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
            yield from _whole_text_decodings(text, self.max_depth - depth, hints)
        for names, raw in _decoded_runs(text, hints):
            self._within_deadline()
            opened = self._open_remembered(raw)
            if opened is not None:
                yield opened[0], (*names, *opened[1]), 1
            if names[0] in XOR_SOURCES:
                for xored in _single_byte_xor(raw):
                    yield xored, (*names, XOR), 1

    def _one_layer_deeper(self, text: str, whole_done: bool, hints: RootHints) -> list[str]:
        """The texts one layer below `text`, at the depth bound: its decodings as a whole, and
        its runs that decode (and decompress) to text, not only to printable runs of binary."""
        deeper = [] if whole_done else [
            decoded for decoded, _, _ in _whole_text_decodings(text, 1, hints)
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


def _single_byte_xor(raw: bytes) -> list[str]:
    """The texts `raw` reads as when XOR'd with one byte (not 0): the keys that make every
    byte printable ASCII (found by intersecting, per byte value, the keys that do so: most
    binary leaves none), when `raw` is not such text already; else the key that makes a known
    key start appear (XOR with one byte keeps the XOR of neighbouring bytes, so the start is
    looked for in those, `raw[i] ^ raw[i + 1]`): text XOR'd with a small key stays text, and
    every key that keeps it so would be a reading. At most XOR_MAX_READINGS readings."""
    # ASCII XOR'd with one byte has one top bit throughout (the key's): random bytes rarely do
    if len(raw) < MIN_XOR_BYTES or (max(raw) >= 0x80 and min(raw) < 0x80):
        return []
    values = set(raw)
    if len(values) < XOR_MIN_VALUES:  # a few byte values: a digit run read as hex, padding
        return []
    keys = _PRINTABLE_KEYS[raw[0]].intersection(*map(_PRINTABLE_KEYS.__getitem__, values))
    readings = [raw.translate(_XOR_TABLES[key]) for key in keys if key]
    # Text XOR'd with a key, then with a key that keeps it printable (0x20 swaps the case of
    # letters), is still printable: the readings most like prose come first.
    if 0 not in keys:
        readings.sort(key=_not_prose)
        # Binary with a few ASCII strings in it (an SSH key's length-prefixed fields) also
        # reads as printable under some keys, mostly signs: a text is mostly letters, digits
        # and white space.
        return [reading.decode("ascii") for reading in readings[:XOR_MAX_READINGS]
                if _share(reading, _WORD_BYTES) >= XOR_WORD_SHARE]
    # Printable as it is (prose XOR'd with a key below 0x80 can be): read with another key
    # only when that reads as prose and the bytes as they are do not.
    best = min(readings, key=_not_prose, default=None)
    if best is not None and _share(best, _PROSE_BYTES) >= XOR_PROSE_SHARE > 2 * _share(
            raw, _PROSE_BYTES):
        return [best.decode("ascii")]
    value = int.from_bytes(raw, "big")
    neighbours = (value ^ (value >> 8)).to_bytes(len(raw), "big")[1:]
    for match in _XOR_SIGNATURE.finditer(neighbours):  # one C search; a hit is rare
        key = raw[match.start()] ^ _XOR_FIRST[match.group()]
        if key:  # 0: the start is there as it is, and the bytes are read as they are
            return [raw.translate(_XOR_TABLES[key]).decode("utf-8", "replace")]
    return []


def reads_personal_data(layers: tuple[str, ...]) -> bool:
    """Whether personal data is looked for in a variant with these layers: not in a reading
    of bytes XOR'd with a guessed key (garbage that reads as text holds an "email" now and
    then, and XOR is how a key is hidden, not a customer list)."""
    return XOR not in layers


def _not_prose(data: bytes) -> int:
    """How many bytes of `data` are not lower-case letters or spaces."""
    return len(data.translate(None, _PROSE_BYTES))


def _share(data: bytes, kind: bytes) -> float:
    """The share of `data` that is bytes of `kind`."""
    return 1 - len(data.translate(None, kind)) / len(data)


def _percent(text: str) -> str | None:
    return unquote(text, errors="replace") if _PERCENT.search(text) else None


def _escapes(text: str) -> str | None:
    if ("\\" in text or "%u" in text) and _BACKSLASH_ESCAPE.search(text):
        return undo_backslash_escapes(text)
    return None


def _css_escapes(text: str) -> str | None:
    if "\\" not in text or not _CSS_ESCAPE.search(text):
        return None

    def one(match: re.Match[str]) -> str:
        code = int(match.group(1), 16)
        return chr(code) if 0 < code <= 0x10FFFF else match.group()

    return _CSS_ESCAPE.sub(one, text)


def _html(text: str) -> str | None:
    return html.unescape(text) if "&" in text and _HTML_REFERENCE.search(text) else None


def _quoted_printable(text: str) -> str | None:
    if ("=\n" in text or "=\r" in text) and _QP_SOFT_BREAK.search(text):
        return binascii.a2b_qp(text.encode("utf-8", "surrogatepass")).decode("utf-8", "replace")
    return None


def _form(text: str) -> str | None:
    # Form encoding writes a space as "+": "card=4556+7375+8689+9855" in a query string or
    # form body hides a grouped number from a percent decode alone.
    if "+" in text and _EQUALS_THEN_PLUS.search(text) and _FORM_PAIR_WITH_PLUS.search(text):
        return unquote_plus(text, errors="replace")
    return None


# Decodings of the whole text, in the order they are undone together (see
# _whole_text_decodings). "form" is last and never combined: it turns every "+" into a space,
# which would break the base64 that the others may have exposed.
_WHOLE_TEXT: tuple[tuple[str, Callable[[str], str | None]], ...] = (
    ("percent", _percent), ("escapes", _escapes), ("css_escapes", _css_escapes),
    ("html", _html), ("quoted_printable", _quoted_printable), ("form", _form),
)
NORMALISATIONS = frozenset({"zero_width", "nfkc", "marks", "dashes", "confusables"})
# The names of every step that rewrites a whole text (see _Peeler._children)
WHOLE_TEXT_STEPS = frozenset(name for name, _ in _WHOLE_TEXT) | NORMALISATIONS
# "css_escapes" reads the backslashes "escapes" reads, another way: one of the two at a time.
_COMBINED = tuple((name, decode) for name, decode in _WHOLE_TEXT
                  if name not in ("form", "css_escapes"))


def _whole_text_decodings(text: str, depth_left: int, hints: RootHints = UNKNOWN
                          ) -> Iterator[tuple[str, tuple[str, ...], int]]:
    """Each decoding of the whole text alone (depth 1), then all of them and the normalisations
    undone together, over and over until nothing changes or the depth is spent (percent inside
    HTML inside percent, `%2541`, `\\u200b` escapes that leave zero-width characters): one
    variant, depth one per decoding applied (normalising costs none). `hints` rule out
    decodings of `text` with nothing to decode.

    A variant of one of these is not rewritten whole again (see _Peeler._children): each is a
    copy of the text, and every order of every subset of them (a source file holds a `%20`, a
    `\\x1f`, an `&amp;`, a `+` and a Cyrillic letter) made dozens of copies, past the budget."""
    singles: dict[str, str] = {}  # name -> the text decoded once: the first round's steps
    for name, decode in _WHOLE_TEXT:
        if (name == "escapes" and not hints.escapes) or (
                name == "quoted_printable" and not hints.soft_break):
            continue
        decoded = decode(text)
        if decoded is not None and decoded != text:
            singles[name] = decoded
            yield decoded, (name,), 1
    if not singles:
        return
    current, names, spent = text, list[str](), 0
    changed, rounds = True, 0
    while changed and rounds <= depth_left:  # each round but the last spends depth
        changed, rounds = False, rounds + 1
        for name, decode in _COMBINED:
            if spent >= depth_left:
                decoded = None
            elif current is text:  # nothing applied yet: decoded above already
                decoded = singles.get(name)
            else:
                decoded = decode(current)
            if decoded is not None and decoded != current:
                current, changed, spent = decoded, True, spent + 1
                names.append(name)
        if not current.isascii():
            normalised, steps = _normalise(current)
            if steps and normalised != current:
                current, changed = normalised, True
                names.extend(steps)
    if len(names) >= 2:
        yield current, tuple(names), spent


def undo_backslash_escapes(text: str) -> str:
    """`text` with every backslash (and %uNNNN) escape replaced by its character; escaped bytes
    that spell UTF-8 (`\\xe2\\x82\\xac`) are read as UTF-8."""
    def one(match: re.Match[str]) -> str:
        octal = match.group("octal")
        digits = octal or next(group for group in match.groups() if group is not None)
        code = int(digits, 8 if octal else 16)
        return chr(code) if code <= 0x10FFFF else match.group()

    unescaped = _BACKSLASH_ESCAPE.sub(one, text)
    try:
        return unescaped.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return unescaped


def _read(raw: bytes, names: tuple[str, ...]) -> tuple[str, tuple[str, ...]] | None:
    """Bytes as text, else their printable runs (layer "strings"), else None."""
    result = readable(raw)
    if result is None:
        return None
    text, whole = result
    return text, names if whole else (*names, "strings")


def _normalise(text: str) -> tuple[str, tuple[str, ...]]:
    """`text` with invisible characters removed, then NFKC, then confusables folded, and the
    names of the steps that changed it (none: the text as it is).

    One variant, not one per step and order: every step and order of a long text is a copy of
    it, and binary data read as text or a long message in Cyrillic with an emoji family has
    something for each step, so that the copies alone overran the peel budget."""
    steps: list[str] = []
    if _INVISIBLE.search(text):
        text = _INVISIBLE.sub("", text)
        steps.append("zero_width")
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
        steps.append("nfkc")
    decomposed = unicodedata.normalize("NFD", text)
    if _MARKS.search(decomposed):
        text = unicodedata.normalize("NFC", _MARKS.sub("", decomposed))
        steps.append("marks")
    if _DASHES.search(text):
        text = _DASHES.sub("-", text)
        steps.append("dashes")
    if _CONFUSABLE.search(text):
        text = text.translate(_FOLD_CONFUSABLES)
        steps.append("confusables")
    return text, tuple(steps)


def _hidden(text: str, done: tuple[str, ...]) -> Iterator[tuple[str, tuple[str, ...], int]]:
    """The hidden texts of a non-ASCII text's tags, variation selectors and zero-width bits,
    once per chain."""
    if "zero_width_bits" not in done and any(char in text for char in ZERO_WIDTH_BITS):
        for run in _ZERO_WIDTH_RUN.findall(text):
            if (hidden := _zero_width_text(run)) is not None:
                yield hidden, ("zero_width_bits",), 0
    if max(text) < "\ufe00":  # no tag or selector can be there (one C pass, most texts)
        return
    if "tags" not in done and (tagged := _TAG_RUN.findall(text)):
        yield "\n".join(tagged).translate(_UNTAG), ("tags",), 0
    if "variation_selectors" not in done and (runs := _SELECTOR_RUN.findall(text)):
        smuggled = _read(b"".join(map(_selector_bytes, runs)), ("variation_selectors",))
        if smuggled is not None:
            yield smuggled[0], smuggled[1], 0


def _zero_width_text(run: str) -> str | None:
    """The text a run of zero-width characters spells as bits: two of them are 0 and 1 (either
    way round), eight bits a byte; or, with a third between the characters, each piece is one
    character's code in binary (`ord(c)` written with `bin()`, as zero-width steganography
    tools write it). None when no reading is text."""
    symbols = sorted(set(run))
    readings: list[str] = []
    if len(symbols) == 2:
        for zero, one in (symbols, symbols[::-1]):
            bits = run.translate({ord(zero): "0", ord(one): "1"})
            usable = len(bits) - len(bits) % 8
            raw = int(bits[:usable], 2).to_bytes(usable // 8, "big")
            readings.append(raw.decode("utf-8", "replace"))
    elif len(symbols) == 3:
        for separator in symbols:
            zero, one = (symbol for symbol in symbols if symbol != separator)
            for low, high in ((zero, one), (one, zero)):
                pieces = run.translate({ord(low): "0", ord(high): "1"}).split(separator)
                codes = [int(piece, 2) for piece in pieces if 0 < len(piece) <= 21]
                readings.append("".join(chr(code) for code in codes if code <= 0x10FFFF))
    for reading in readings:
        if len(reading) >= MIN_FIELD_CHARS and is_text(reading):
            return reading
    return None


def _selector_bytes(run: str) -> bytes:
    """The bytes a run of variation selectors spells: U+FE00-FE0F are 0-15, U+E0100-E01EF
    are 16-255 (one selector a byte, after a visible character)."""
    return bytes(ord(c) - 0xFE00 if ord(c) <= 0xFE0F else ord(c) - 0xE0100 + 16 for c in run)


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
