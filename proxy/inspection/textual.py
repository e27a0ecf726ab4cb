"""Judging decoded bytes: text worth scanning, or binary whose printable runs are all we keep."""

from __future__ import annotations

import re

# Above this share of control characters and U+FFFD, decoded bytes are binary, not text:
# random bytes score about 0.6, real text in any script about 0.
MAX_NON_TEXT_RATIO = 0.1
# Shorter texts must be clean: one stray character in a dozen is how random bytes look.
MIN_TOLERANT_TEXT = 32
# Printable ASCII runs at least this long are kept from binary data (like `strings`):
# shorter runs occur by chance in images and compressed data.
MIN_STRINGS_RUN = 16
# UTF-16/32 text of ASCII-range characters (e.g. PowerShell's -EncodedCommand is UTF-16LE)
# shows as a zero in most of the bytes that hold the high part of each code unit.
_WIDE_ZERO_SHARE = 0.9
_MIN_WIDE_BYTES = 8

_NON_TEXT_CLASS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd"
_NON_TEXT = re.compile(f"[{_NON_TEXT_CLASS}]")
# Runs of text characters in binary data read as characters, at least this long: random bytes
# make one about every 3,000 characters, and a key is longer.
MIN_TEXT_RUN = 8
_TEXT_RUN = re.compile(f"[^{_NON_TEXT_CLASS}]{{{MIN_TEXT_RUN},}}")
_STRINGS = re.compile(rb"[\x20-\x7e\t\r\n]{%d,}" % MIN_STRINGS_RUN)


def bytes_as_text(raw: bytes) -> str:
    """Decode as UTF-16 or UTF-32 (either byte order) when it looks like it, else UTF-8,
    replacing what does not decode."""
    return raw.decode(sniff_wide_codec(raw) or "utf-8", errors="replace")


def looks_utf16le(raw: bytes) -> bool:
    """Most odd bytes zero: ASCII-range text encoded as UTF-16LE."""
    return sniff_wide_codec(raw) == "utf-16-le"


def sniff_wide_codec(raw: bytes) -> str | None:
    """The UTF-16/UTF-32 codec that ASCII-range text without a BOM would show as, or None.

    UTF-32 is tried first: UTF-32LE text also has zero odd bytes, UTF-32BE zero even ones.
    """
    if len(raw) < _MIN_WIDE_BYTES:
        return None
    # Every codec below needs a column of at least len // 2 bytes mostly zero: most decoded
    # runs (random ids, hashes) have almost no zero byte, and one count rules them all out.
    if raw.count(0) < _WIDE_ZERO_SHARE * (len(raw) // 2):
        return None
    for codec, zero_offsets, step in (
        ("utf-32-le", (1, 2, 3), 4),
        ("utf-32-be", (0, 1, 2), 4),
        ("utf-16-le", (1,), 2),
        ("utf-16-be", (0,), 2),
    ):
        if all(_mostly_zero(raw[offset::step]) for offset in zero_offsets):
            return codec
    return None


def _mostly_zero(column: bytes) -> bool:
    return column.count(0) >= _WIDE_ZERO_SHARE * len(column)


def is_text(text: str) -> bool:
    """Mostly printable: not binary data read as characters."""
    if not text:
        return False
    if len(text) < MIN_TOLERANT_TEXT:
        return _NON_TEXT.search(text) is None
    return len(_NON_TEXT.findall(text)) <= MAX_NON_TEXT_RATIO * len(text)


def text_runs(text: str) -> str:
    """The runs of text characters (not control characters, not U+FFFD) of binary data read as
    characters, one a line: what a receiver could read in it, much shorter than all of it."""
    return "\n".join(_TEXT_RUN.findall(text))


def printable_strings(raw: bytes) -> str:
    """The long printable ASCII runs of binary data, one a line; empty when there are none."""
    return "\n".join(run.decode("ascii") for run in _STRINGS.findall(raw))


def readable(raw: bytes) -> tuple[str, bool] | None:
    """Decoded bytes as (text, whole): the full text, else its printable runs, else None."""
    text = bytes_as_text(raw)
    if is_text(text):
        return text, True
    strings = printable_strings(raw)
    return (strings, False) if strings else None


def character_offsets(text: str, offsets: list[int]) -> list[int]:
    """Byte offsets into `text`'s UTF-8 (surrogates passed), in order, as character offsets.
    Each must fall on a character's first byte (where an ASCII match starts): the characters
    before it are those its bytes decode to, counted a stretch at a time (one pass in all)."""
    if text.isascii():
        return list(offsets)
    data = text.encode("utf-8", "surrogatepass")
    characters, previous, result = 0, 0, []
    for offset in offsets:
        characters += len(data[previous:offset].decode("utf-8", "surrogatepass"))
        result.append(characters)
        previous = offset
    return result


def is_utf8(data: bytes) -> bool:
    """Whether `data` decodes as UTF-8 (compressed streams and key files do not)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
