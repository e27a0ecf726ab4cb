"""Rewrites of a whole text that one line of code undoes: reversed and rot13.

They are not layers to peel (nothing marks them, and any text "decodes" under them), so they are
scanned, not peeled: every text and every peeled layer is also scanned reversed and rot13'd, for
secret detectors only. Personal data is left out there: a reversed phone number or a rot13'd word
that looks like an email would double-count what the plain text already reports (PII thresholds
count values per request), and a secret is what this evasion is used for.

`Scanner.scan_many_and_rewrites` does this in one hyperscan pass per rewrite over all texts
joined, as `scan_many` does; `evaluate` scans each layer's rewrites one by one. Both use
TRANSFORMS.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from types import MappingProxyType

_ROT13_STR = str.maketrans(
    string.ascii_uppercase + string.ascii_lowercase,
    string.ascii_uppercase[13:] + string.ascii_uppercase[:13]
    + string.ascii_lowercase[13:] + string.ascii_lowercase[:13],
)
# The same on UTF-8 bytes: only ASCII letters move, and every byte of a multi-byte character is
# 0x80 or above, so rot13 of the encoded text is the encoding of the rot13'd text.
ROT13_BYTES = bytes.maketrans(
    (string.ascii_uppercase + string.ascii_lowercase).encode(),
    (string.ascii_uppercase[13:] + string.ascii_uppercase[:13]
     + string.ascii_lowercase[13:] + string.ascii_lowercase[:13]).encode(),
)


def reversed_text(text: str) -> str:
    return text[::-1]


def rot13(text: str) -> str:
    return text.translate(_ROT13_STR)


TRANSFORMS: Mapping[str, Callable[[str], str]] = MappingProxyType(
    {"reversed": reversed_text, "rot13": rot13}
)
