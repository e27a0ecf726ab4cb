"""DNS tunnelling detection: what one query looks like, and what a client does to one domain.

Per query (pure): long labels, long names, high character entropy, labels that read as hex,
base32 or base64, and bytes no host name has. Per client and window key (proxy/dns/scope.py), in
a sliding window with an injectable clock: unique subdomains, query count, share of TXT/NULL
questions, questions forwarded upstream; and the same for all clients together. The tables are
in proxy/dns/windows.py and proxy/dns/all_clients.py.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from enum import StrEnum

from proxy.policy.dns_model import TunnellingPolicy

BINARY_MIN_LENGTH = 4

_HEX = frozenset(b"0123456789abcdefABCDEF")
# RFC 4648 base32 plus the digits 0 and 1 of iodine's alphabet: random alphanumerics.
_BASE32 = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_BASE64 = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=_-")
_DIGITS = frozenset(b"0123456789")
_HOST = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


class Signal(StrEnum):
    """Why a query or a client's traffic looks like a tunnel (the audit line's `signals`)."""

    LABEL_LENGTH = "label_length"
    NAME_LENGTH = "name_length"
    LABEL_ENTROPY = "label_entropy"
    HEX_LABEL = "hex_label"
    BASE32_LABEL = "base32_label"
    BASE64_LABEL = "base64_label"
    BINARY_LABEL = "binary_label"
    UNIQUE_SUBDOMAINS = "unique_subdomains"
    UNIQUE_SUBDOMAINS_LONG = "unique_subdomains_long"  # a slow tunnel, over the long window
    QUERY_RATE = "query_rate"
    TXT_SHARE = "txt_share"
    FORWARDED = "forwarded"  # questions that went upstream (cache misses)
    FORWARDED_LONG = "forwarded_long"  # the same over the long window: a codebook tunnel
    # All clients together under one window key (proxy/dns/all_clients.py): the key is then
    # blocked for every client.
    ALL_CLIENTS_UNIQUE_SUBDOMAINS = "all_clients_unique_subdomains"
    ALL_CLIENTS_UNIQUE_SUBDOMAINS_LONG = "all_clients_unique_subdomains_long"
    ALL_CLIENTS_FORWARDED = "all_clients_forwarded"
    ALL_CLIENTS_FORWARDED_LONG = "all_clients_forwarded_long"


ALL_CLIENTS_SIGNALS = frozenset({
    Signal.ALL_CLIENTS_UNIQUE_SUBDOMAINS, Signal.ALL_CLIENTS_UNIQUE_SUBDOMAINS_LONG,
    Signal.ALL_CLIENTS_FORWARDED, Signal.ALL_CLIENTS_FORWARDED_LONG,
})
# The signals of the traffic to a domain (proxy/dns/windows.py), not of one question.
WINDOW_SIGNALS = frozenset({Signal.UNIQUE_SUBDOMAINS, Signal.UNIQUE_SUBDOMAINS_LONG,
                            Signal.QUERY_RATE, Signal.TXT_SHARE, Signal.FORWARDED,
                            Signal.FORWARDED_LONG}) | ALL_CLIENTS_SIGNALS


def shannon_entropy(data: bytes) -> float:
    """Bits per character of `data` (case folded: DNS does not keep case reliably)."""
    if not data:
        return 0.0
    counts = Counter(data.lower())
    total = len(data)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def label_signals(label: bytes, policy: TunnellingPolicy) -> list[Signal]:
    """What one label alone says; empty for an ordinary label."""
    found: list[Signal] = []
    length = len(label)
    if length > policy.max_label_length:
        found.append(Signal.LABEL_LENGTH)
    chars = set(label)
    if length >= BINARY_MIN_LENGTH and not chars <= _HOST:
        found.append(Signal.BINARY_LABEL)
    if length >= policy.encoded_min_length:
        found.extend(_encoding(label, chars))
    # Judged on the longest run between hyphens: hyphenated words ("kubernetes-dashboard-prod")
    # have many letters but short runs; a payload is one long run.
    run = max(label.split(b"-"), key=len)
    if len(run) >= policy.entropy_min_length and (
        shannon_entropy(run) >= policy.max_label_entropy
    ):
        found.append(Signal.LABEL_ENTROPY)
    return found


def _encoding(label: bytes, chars: set[int]) -> list[Signal]:
    digits = sum(1 for byte in label if byte in _DIGITS)
    letters = len(label) - digits
    if chars <= _HEX and digits and letters:
        return [Signal.HEX_LABEL]
    if chars <= _BASE32 and digits >= 2 and letters >= 2 and shannon_entropy(label) >= 3.9:
        return [Signal.BASE32_LABEL]
    if reads_as_base64(label, chars):
        return [Signal.BASE64_LABEL]
    return []


def reads_as_base64(data: bytes, chars: set[int] | None = None) -> bool:
    """Base64 (padded, or mixed case with digits) of high enough entropy. Mixed case with
    digits in one long run is rare in host names (they are written in lower case), so a lower
    entropy bar holds here. `chars`: set(data), when the caller has it."""
    chars = set(data) if chars is None else chars
    if not chars <= _BASE64:
        return False
    has_upper = any(65 <= byte <= 90 for byte in data)
    has_lower = any(97 <= byte <= 122 for byte in data)
    has_digit = not chars.isdisjoint(_DIGITS)
    padded = bool(chars & frozenset(b"+/="))
    return (padded or (has_upper and has_lower and has_digit)) and (
        shannon_entropy(data) >= 3.5)


def query_signals(sub_labels: Sequence[bytes], name_length: int,
                  policy: TunnellingPolicy) -> tuple[Signal, ...]:
    """Signals of one question: the labels an attacker may choose (left of the window key, see
    proxy/dns/scope.py), and its length."""
    found: dict[Signal, None] = {}
    if name_length > policy.max_name_length:
        found[Signal.NAME_LENGTH] = None
    for label in sub_labels:
        for signal in label_signals(label, policy):
            found[signal] = None
    return tuple(found)
