"""Variants made of all of a text, not of runs inside it: its decodings, its normalisations,
and the hidden text of its invisible characters.

- whole_text_decodings: "percent", "escapes", "css_escapes", "html", "quoted_printable" and
  "form" of the whole text, each alone, then all together with the normalisations;
- normalise: "zero_width", "nfkc", "marks", "dashes" and "confusables", as one variant;
- hidden_texts: what "zero_width_bits", "tags" and "variation_selectors" spell, once per chain.

layers.py's docstring says what each layer is and how peel uses them.
"""

from __future__ import annotations

import binascii
import html
import re
import unicodedata
from collections.abc import Callable, Iterator
from urllib.parse import unquote, unquote_plus

from proxy.inspection.byte_readings import read_as_text
from proxy.inspection.code_lines import key_lines
from proxy.inspection.fields import MIN_FIELD_CHARS
from proxy.inspection.root_hints import UNKNOWN, RootHints
from proxy.inspection.textual import is_text

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
# Quoted-printable (`quopri`, MIME's Content-Transfer-Encoding) breaks lines longer than 76
# characters with a soft line break, "=" at the end of a line, which can fall inside a key.
# Decoded when a text has one inside a word: not after white space or "=" (`x =`, a line of
# "=====" under a heading).
QP_SOFT_BREAK = re.compile(r"[!-<>-~]=\r?\n[!-~]")
# A text written in `=XX` escapes (every byte escaped, as an encoder told to hide a key does):
# three in a row. Code and queries put "=" before a value, not before each byte (`a=12&b=34`).
QP_ESCAPES = re.compile(r"(?:=[0-9A-Fa-f]{2}){3}")
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
# Text hidden as bits in zero-width characters (zero-width steganography: U+200B and U+200C
# for 0 and 1, U+200D between characters, and the like). Honest text has them one at a time
# (a joiner inside an emoji sequence): a run of MIN_ZERO_WIDTH_RUN is a payload.
ZERO_WIDTH_BITS = "\u200b\u200c\u200d\u2060\ufeff"
MIN_ZERO_WIDTH_RUN = 40  # five bytes at eight bits each
_ZERO_WIDTH_RUN = re.compile(f"[{ZERO_WIDTH_BITS}]{{{MIN_ZERO_WIDTH_RUN},}}")
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


def has_quoted_printable(text: str) -> bool:
    """Whether `text` shows quoted-printable: a soft line break inside a word, or escapes."""
    return bool((("=\n" in text or "=\r" in text) and QP_SOFT_BREAK.search(text))
                or ("=" in text and QP_ESCAPES.search(text)))


def _quoted_printable(text: str) -> str | None:
    if has_quoted_printable(text):
        return _qp_decoded(text)
    return None


def _quoted_printable_soft_break(text: str) -> str | None:
    """Quoted-printable among the decodings undone together: only a text a soft break shows to
    be one. Escapes alone are decoded alone: a source file that tests a mail library holds them
    beside percent and backslash escapes, and three decodings in one chain spent the depth that
    its base64 samples needed (the request was refused as nested too deep)."""
    if ("=\n" in text or "=\r" in text) and QP_SOFT_BREAK.search(text):
        return _qp_decoded(text)
    return None


def _qp_decoded(text: str) -> str:
    return binascii.a2b_qp(text.encode("utf-8", "surrogatepass")).decode("utf-8", "replace")


def _form(text: str) -> str | None:
    # Form encoding writes a space as "+": "card=4556+7375+8689+9855" in a query string or
    # form body hides a grouped number from a percent decode alone.
    if "+" in text and _EQUALS_THEN_PLUS.search(text) and _FORM_PAIR_WITH_PLUS.search(text):
        return unquote_plus(text, errors="replace")
    return None


# Decodings of the whole text, in the order they are undone together (see
# whole_text_decodings). "form" is never combined: it turns every "+" into a space, which would
# break the base64 that the others may have exposed; nor is "code_lines" (code_lines.py), which
# only rebuilds a private key's lines.
_WHOLE_TEXT: tuple[tuple[str, Callable[[str], str | None]], ...] = (
    ("percent", _percent), ("escapes", _escapes), ("css_escapes", _css_escapes),
    ("html", _html), ("quoted_printable", _quoted_printable), ("form", _form),
    ("code_lines", key_lines),
)
NORMALISATIONS = frozenset({"zero_width", "nfkc", "marks", "dashes", "confusables"})
# Rewrites that cost no depth, like the normalisations: a key's lines out of their code are
# the key as written, not an encoding of it (a key's base64 body, its DER and the DER's PEM
# form then fit within the depth, as they do for a plain key)
_FREE = frozenset({"code_lines"})
# The names of every step that rewrites a whole text (see layers._Peeler._children)
WHOLE_TEXT_STEPS = frozenset(name for name, _ in _WHOLE_TEXT) | NORMALISATIONS
# "css_escapes" reads the backslashes "escapes" reads, another way: one of the two at a time.
# Quoted-printable joins them only when a soft break shows it (_quoted_printable_soft_break).
_COMBINED = tuple((name, _quoted_printable_soft_break if name == "quoted_printable" else decode)
                  for name, decode in _WHOLE_TEXT
                  if name not in ("form", "css_escapes", "code_lines"))


def whole_text_decodings(text: str, depth_left: int, hints: RootHints = UNKNOWN
                         ) -> Iterator[tuple[str, tuple[str, ...], int]]:
    """Each decoding of the whole text alone (depth 1), then all of them and the normalisations
    undone together, over and over until nothing changes or the depth is spent (percent inside
    HTML inside percent, `%2541`, `\\u200b` escapes that leave zero-width characters): one
    variant, depth one per decoding applied (normalising costs none). `hints` rule out
    decodings of `text` with nothing to decode.

    A variant of one of these is not rewritten whole again (see layers._Peeler._children):
    each is a copy of the text, and every order of every subset of them (a source file holds a
    `%20`, a `\\x1f`, an `&amp;`, a `+` and a Cyrillic letter) made dozens of copies, past the
    budget."""
    singles: dict[str, str] = {}  # name -> the text decoded once: the first round's steps
    for name, decode in _WHOLE_TEXT:
        if (name == "escapes" and not hints.escapes) or (
                name == "quoted_printable" and not hints.quoted_printable):
            continue
        decoded = decode(text)
        if decoded is not None and decoded != text:
            singles[name] = decoded
            yield decoded, (name,), 0 if name in _FREE else 1
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
            normalised, steps = normalise(current)
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


def normalise(text: str) -> tuple[str, tuple[str, ...]]:
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


def hidden_texts(text: str, done: tuple[str, ...]) -> Iterator[tuple[str, tuple[str, ...], int]]:
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
        smuggled = read_as_text(b"".join(map(_selector_bytes, runs)), ("variation_selectors",))
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



WIDE = "wide"  # the layer of UTF-16 or UTF-32 text read one byte a character: see narrowed
MIN_WIDE_NULS = 8
# MIN_WIDE_NULS characters or more, each followed by one to three NULs: text a NUL here and
# there (a docstring's `\x00` escapes, decoded) is not wide text, and peeling it again cost
# a .pyc upload its CPU budget.
_WIDE_RUN = re.compile(f"(?:[^\x00]\x00{{1,3}}){{{MIN_WIDE_NULS},}}")
MIN_BINARY_NARROWED = 4096  # longer, a narrowed text must read as text (layers.MIN_BINARY_TEXT)


def narrowed(text: str) -> str | None:
    """`text` without the NULs of its wide runs (_WIDE_RUN), if any: UTF-16 or UTF-32
    text of ASCII characters that reached us one byte a character (percent-encoded bytes, a
    JSON string of `\\u0000` escapes, a form value) shows every other character, or three in
    four, as a NUL, in either byte order; without them it reads as what it says, a BOM aside
    (U+FFFD or `ÿþ`, harmless). Whole bodies are read by their codec (textual.sniff_wide_codec);
    this is for text inside a field, where a key in UTF-16 went through every channel (red team
    exfil5). Honest text holds no NUL; binary data does, and is left to its text runs."""
    if "\x00" not in text or not _WIDE_RUN.search(text):
        return None
    narrow = _WIDE_RUN.sub(lambda run: run.group().replace("\x00", ""), text)
    # Binary data read as characters (a .pyc upload) holds NULs too: without them it is still
    # binary, and peeling it a second time doubled its cost (past the CPU budget).
    return narrow if len(narrow) < MIN_BINARY_NARROWED or is_text(narrow) else None
