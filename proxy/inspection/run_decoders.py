"""Decode one run of one alphabet to bytes: base64 (standard and URL-safe), base32, base58,
hex, base85 and Ascii85 (after a look at the first group), a uuencoded line, and base64
reversed or rot13'd after encoding. Finding the runs is encoded_runs.py's job.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable

from proxy.inspection.textual import is_text
from proxy.inspection.transforms import reversed_text, rot13

# Longer base58 tokens are not decoded: the decoding is Python code and a big-number conversion
# (0.7 ms for 4096 characters, about 0.2 µs a character below that: a 10 MiB body of such
# tokens costs about 2 s, as much as the rest of its inspection), and a 2048-bit RSA key in PEM
# takes about 2,300.
MAX_BASE58_RUN = 4096
B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_VALUES = {char: value for value, char in enumerate(B58_ALPHABET)}
_B58_CHUNK = 9
_BASE64_ALPHABET_ONLY = re.compile(r"[A-Za-z0-9+/]*")
_BASE32_VALID_TAIL = {0, 2, 4, 5, 7}  # characters in the last 8-character group


def b64(run: str) -> bytes | None:
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


def b64url(run: str) -> bytes | None:
    """URL-safe base64 (RFC 4648 section 5)."""
    return b64(run.translate(_URLSAFE_TO_STANDARD))


_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")


def b32(run: str) -> bytes | None:
    """Base32, either case, padding optional; trailing characters that cannot end one dropped."""
    body = run.rstrip("=").upper()
    while body and len(body) % 8 not in _BASE32_VALID_TAIL:
        body = body[:-1]
    try:
        return base64.b32decode(body + "=" * (-len(body) % 8))
    except binascii.Error:
        return None


def b58_text(token: str) -> bytes | None:
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


def unhex(run: str) -> bytes:
    """Hex, an odd last digit dropped."""
    return bytes.fromhex(run[: len(run) - len(run) % 2])



def plausible_group(run: str, values: dict[str, int]) -> bool:
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
BASE85_DECODERS: tuple[tuple[str, re.Pattern[str], Callable[[str], bytes], dict[str, int]],
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


def untwisted(name: str, run: str, decode: Callable[[str], bytes | None]
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



def uu_line_bytes(line: str) -> bytes | None:
    """The bytes of one uuencoded line, or None when its length does not match its count."""
    count = ord(line[0]) - 32
    expected = 4 * -(-count // 3)
    if not expected - 3 <= len(line) - 1 <= expected:  # `.strip()` may take trailing spaces
        return None
    try:
        return binascii.a2b_uu(line)
    except binascii.Error:
        return None

