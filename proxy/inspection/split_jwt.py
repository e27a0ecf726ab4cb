"""A JWT written without its dots: what a token cut into DNS labels becomes once they are joined.

The jwt detector needs `header.payload.signature`. Cut into labels of 23 characters or less the
token's dots are lost (or land between the wrong pieces), so the labels joined without dots
hold `eyJ<header>eyJ<payload><signature>`. Base64 groups decode independently, so decoding from
an `eyJ` reads the header's own bytes exactly even with the payload glued behind it: where its
JSON object ends says where the payload must start, and that must be `eyJ` again and decode to a
JSON object too. No guessing where the dots were: one decode per `eyJ`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

DETECTOR = "jwt"  # the findings are the jwt detector's (proxy/inspection/detectors.py)
# `eyJ` starts examined per text, at most: every one costs a decode, and no host name holds one
# (names are written in lower case). Past it the rest of the text counts as a token: fail closed.
MAX_STARTS = 16
_START = "eyJ"  # base64 of `{"`: a JSON object's first two bytes
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_DECODER = json.JSONDecoder()


def glued_jwt_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each JWT in `text` written without its dots: from its header's `eyJ` to
    the end of its payload (the signature has no shape to check)."""
    spans: list[tuple[int, int]] = []
    start = text.find(_START)
    for _ in range(MAX_STARTS):
        if start < 0:
            return spans
        span = _token_at(text, start)
        if span is not None:
            spans.append(span)
        start = text.find(_START, span[1] if span is not None else start + 1)
    if start >= 0:  # decoys enough to hide a token behind them
        spans.append((start, len(text)))
    return spans


def _token_at(text: str, start: int) -> tuple[int, int] | None:
    run = text[start:_BASE64URL.match(text, start).end()]  # type: ignore[union-attr]
    header = _object_length(run, need_alg=True)
    if header is None:
        return None
    payload_start = _encoded_length(header)
    if not run.startswith(_START, payload_start):
        return None
    payload = _object_length(run[payload_start:], need_alg=False)
    if payload is None:
        return None
    return start, start + payload_start + _encoded_length(payload)


def _object_length(encoded: str, *, need_alg: bool) -> int | None:
    """Bytes of the JSON object the base64url text starts with (whatever follows it), or None."""
    if len(encoded) % 4 == 1:
        encoded = encoded[:-1]  # a lone character encodes no byte
    try:
        data = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        # latin-1: one character a byte, so the object's end is its length in bytes
        value, end = _DECODER.raw_decode(data.decode("latin-1"))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(value, dict) or (need_alg and not isinstance(value.get("alg"), str)):
        return None
    return end


def _encoded_length(size: int) -> int:
    """Characters of unpadded base64 for `size` bytes."""
    return -(-size * 4 // 3)
