"""Turn what leaves into the texts to scan: Content-Encoding, body fields, hidden layers.

Pure functions, no I/O. The pipeline for a body is
`decode_content_encoding` -> `body_fields` -> `peel` on each field with `peel=True`.
Every step is bounded and fails closed: DecodeLimitExceeded when a cap is reached,
UndecodableBody when the data cannot be read; the caller blocks on both, never forwards.
What is and is not caught is listed in docs/inspection.md.
"""

from __future__ import annotations

from proxy.inspection.body_fields import body_fields
from proxy.inspection.compression import decompress, looks_like_zlib
from proxy.inspection.decode_errors import DecodeLimitExceeded, UndecodableBody
from proxy.inspection.fields import Field, is_plain_name, name_segment
from proxy.inspection.layers import DEFAULT_MAX_DEPTH, MAX_VARIANTS, Layer, peel

__all__ = [
    "CONTENT_CODINGS",
    "DEFAULT_MAX_DEPTH",
    "MAX_VARIANTS",
    "DecodeLimitExceeded",
    "Field",
    "Layer",
    "UndecodableBody",
    "body_fields",
    "decode_content_encoding",
    "is_plain_name",
    "name_segment",
    "parse_content_encoding",
    "peel",
]

# Content codings we undo, by their HTTP name; "identity" means none.
CONTENT_CODINGS = ("gzip", "x-gzip", "deflate", "br", "zstd", "identity")
# Registered codings we cannot read: named in errors. Any other token is not echoed, since a
# header value is sender-controlled and error messages end up in logs.
_KNOWN_UNSUPPORTED = ("compress", "x-compress", "exi", "pack200-gzip", "aes128gcm", "dcb", "dcz")


def decode_content_encoding(data: bytes, header: str | None, *, limit: int) -> bytes:
    """Undo the Content-Encoding `header` on `data`, last applied first.

    Never returns or holds much more than `limit` bytes: raises DecodeLimitExceeded past it,
    and UndecodableBody for an unknown coding or corrupt, truncated or trailing data.
    """
    body = data
    for coding in reversed(parse_content_encoding(header)):
        if body:  # an empty body stays empty whatever the header says
            body = _undo(coding, body, limit)
    if len(body) > limit:
        raise DecodeLimitExceeded(f"body exceeds {limit} bytes")
    return body


def parse_content_encoding(header: str | None) -> list[str]:
    """The codings in the order they were applied, lower-cased, "identity" left out."""
    codings = [token.strip().lower() for token in (header or "").split(",")]
    for position, coding in enumerate(codings, 1):
        if coding and coding not in CONTENT_CODINGS:
            shown = repr(coding) if coding in _KNOWN_UNSUPPORTED else f"number {position}"
            raise UndecodableBody(f"unsupported content-encoding {shown}")
    return [coding for coding in codings if coding and coding != "identity"]


def _undo(coding: str, data: bytes, limit: int) -> bytes:
    """Undo one content coding."""
    if coding in ("gzip", "x-gzip"):
        return decompress("gzip", data, limit=limit)
    if coding == "deflate":
        # RFC 9110 says zlib-wrapped, but servers and clients also send raw deflate.
        return decompress("zlib" if looks_like_zlib(data) else "deflate", data, limit=limit)
    return decompress(coding, data, limit=limit)  # "br", "zstd"
