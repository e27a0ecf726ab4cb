"""Errors of the decoders: the caller fails closed on both (a body it cannot read is blocked)."""

from __future__ import annotations


class DecodeLimitExceeded(ValueError):
    """Decoding would produce more than the allowed number of bytes (a bomb, or just too big)."""


class DepthLimitExceeded(DecodeLimitExceeded):
    """A text holds more layers of encoding than the configured depth peels."""


class UndecodableBody(ValueError):
    """The data cannot be decoded: unknown encoding, corrupt or truncated stream."""


class TruncatedStream(UndecodableBody):
    """A compressed stream ended before its end marker."""
