"""What decoded bytes read as: text, or else their printable runs (read_as_text); and text
XOR'd with one byte (single_byte_xor), a reading where personal data is not looked for
(reads_personal_data).
"""

from __future__ import annotations

import re
import string

from proxy.inspection.textual import readable
from proxy.inspection.transforms import KEY_STARTS

# Decoded bytes may be text XOR'd with one byte: see single_byte_xor. Known key starts
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


def single_byte_xor(raw: bytes) -> list[str]:
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


def read_as_text(raw: bytes, names: tuple[str, ...]) -> tuple[str, tuple[str, ...]] | None:
    """Bytes as text, else their printable runs (layer "strings"), else None."""
    result = readable(raw)
    if result is None:
        return None
    text, whole = result
    return text, names if whole else (*names, "strings")
