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
# UTF-16LE text (e.g. PowerShell's -EncodedCommand) shows as a zero in most odd bytes.
_UTF16_ZERO_SHARE = 0.9

_NON_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")
_STRINGS = re.compile(rb"[\x20-\x7e\t\r\n]{%d,}" % MIN_STRINGS_RUN)


def bytes_as_text(raw: bytes) -> str:
    """Decode as UTF-16LE when it looks like it, else UTF-8, replacing what does not decode."""
    if looks_utf16le(raw):
        return raw.decode("utf-16-le", errors="replace")
    return raw.decode("utf-8", errors="replace")


def looks_utf16le(raw: bytes) -> bool:
    """Most odd bytes zero: ASCII-range text encoded as UTF-16LE."""
    if len(raw) < 8:
        return False
    odd = raw[1::2]
    return odd.count(0) >= _UTF16_ZERO_SHARE * len(odd)


def is_text(text: str) -> bool:
    """Mostly printable: not binary data read as characters."""
    if not text:
        return False
    bad = len(_NON_TEXT.findall(text))
    if len(text) < MIN_TOLERANT_TEXT:
        return bad == 0
    return bad <= MAX_NON_TEXT_RATIO * len(text)


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
