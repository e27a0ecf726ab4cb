"""Text XOR'd with one byte inside a decoded run (byte_readings.single_byte_xor, layer "xor"): found
by the keys that make every byte printable, the readings most like prose first; or, when the
bytes are text already (a small key), by a known key start in the XOR of neighbouring bytes."""

from __future__ import annotations

import base64
import random

import pytest

from proxy.inspection.byte_readings import MIN_XOR_BYTES, XOR_MAX_READINGS, single_byte_xor
from proxy.inspection.engine import Text, inspect_texts
from proxy.inspection.layers import peel
from proxy.inspection.scanner import Scanner
from tests.corpus import fakes

_RNG = random.Random(7070)
AWS_KEY = fakes.aws_access_key_id(_RNG)
GITHUB = fakes.github_token(_RNG, "ghp_")
SECRET_LINE = f"the deploy key is {AWS_KEY} and the token {GITHUB}"


def xor(text: str, key: int) -> bytes:
    return bytes(byte ^ key for byte in text.encode())


def reaching(text: str, needle: str) -> tuple[str, ...] | None:
    for layer in peel(text, max_bytes=1 << 20):
        if needle in layer.text:
            return layer.layers
    return None


@pytest.mark.parametrize("key", [0x01, 0x07, 0x20, 0x5A, 0x7F, 0x80, 0xA5, 0xFF])
def test_a_text_xored_with_one_byte_is_read_back(key: int) -> None:
    blob = base64.b64encode(xor(SECRET_LINE, key)).decode()
    assert reaching(f"payload: {blob}", AWS_KEY) == ("base64", "xor")


@pytest.mark.parametrize("key", [0x01, 0x02, 0x03])
def test_a_key_alone_xored_with_a_small_key_is_found_by_its_start(key: int) -> None:
    """XOR with 1 keeps a key printable: the bytes are text as they are, and only the start
    (`ghp_` XOR'd) tells which key undoes it."""
    blob = xor(GITHUB, key).hex()
    assert reaching(f"hex: {blob}", GITHUB) == ("hex", "xor")


def test_prose_is_read_with_its_own_key_first() -> None:
    """0x20 swaps the case of letters, and other keys keep digits and signs printable: the
    reading with the most lower-case letters and spaces comes first."""
    readings = single_byte_xor(xor("the quick brown fox jumps over the lazy dog 42", 0x5A))
    assert readings[0] == "the quick brown fox jumps over the lazy dog 42"
    assert len(readings) <= XOR_MAX_READINGS


@pytest.mark.parametrize("raw", [
    b"plain ASCII text that needs no key at all",  # text as it is: no reading
    bytes(range(256)),  # both top bits
    xor("short", 0x5A),  # under MIN_XOR_BYTES
    "naïve café déjà vu, a text in UTF-8".encode(),
], ids=["plain-text", "mixed-top-bits", "too-short", "utf-8-text"])
def test_no_reading_where_there_is_no_xored_text(raw: bytes) -> None:
    assert single_byte_xor(raw) == []


def test_random_bytes_give_no_reading() -> None:
    rng = random.Random(1)
    blobs = [rng.randbytes(rng.randint(MIN_XOR_BYTES, 64)) for _ in range(3000)]
    assert sum(bool(single_byte_xor(blob)) for blob in blobs) == 0


def test_personal_data_is_not_looked_for_in_xor_readings() -> None:
    """A reading under a guessed key is searched for secrets only: garbage that reads as text
    holds an "email" now and then (a certificate bundle's did)."""
    people = "write to ann@example.com or bob@example.org, call +1 415 555 0132"
    blob = base64.b64encode(xor(f"{people} and the key {AWS_KEY}", 0x5A)).decode()
    inspection = inspect_texts([Text("body:$.blob", blob)], Scanner(), b"k" * 32, max_depth=3)
    assert {(h.finding.detector, h.finding.layers) for h in inspection.hits} == {
        ("aws_access_key", ("base64", "xor"))}
