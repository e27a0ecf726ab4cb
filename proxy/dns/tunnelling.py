"""DNS tunnelling detection: what one query looks like, and what a client does to one domain.

Per query (pure): long labels, long names, high character entropy, labels that read as hex,
base32 or base64, and bytes no host name has. Per client and registered domain, in a sliding
window with an injectable clock: unique subdomains, query count, share of TXT/NULL questions.
Every structure is bounded, so a client cannot grow the detector's memory without limit.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from proxy.policy.dns_model import TunnellingPolicy

TXT_LIKE_TYPES = frozenset({16, 10})  # TXT, NULL: the bulk channels of iodine and dnscat2
MAX_KEYS = 4096  # (client, domain) windows kept; the least recently used go first
MAX_BLOCKS = 4096
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
    QUERY_RATE = "query_rate"
    TXT_SHARE = "txt_share"


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
    has_upper = any(65 <= byte <= 90 for byte in label)
    has_lower = any(97 <= byte <= 122 for byte in label)
    padded = bool(chars & frozenset(b"+/="))
    # Mixed case with digits in one long run is rare in host names (they are written in lower
    # case), so a lower entropy bar holds here.
    if chars <= _BASE64 and (padded or (has_upper and has_lower and digits)) and (
        shannon_entropy(label) >= 3.5
    ):
        return [Signal.BASE64_LABEL]
    return []


def query_signals(sub_labels: Sequence[bytes], name_length: int,
                  policy: TunnellingPolicy) -> tuple[Signal, ...]:
    """Signals of one question: its labels under the registered domain, and its length."""
    found: dict[Signal, None] = {}
    if name_length > policy.max_name_length:
        found[Signal.NAME_LENGTH] = None
    for label in sub_labels:
        for signal in label_signals(label, policy):
            found[signal] = None
    return tuple(found)


@dataclass
class _Window:
    """One client's traffic to one registered domain, in per-second buckets."""

    buckets: deque[tuple[int, int, int]] = field(default_factory=deque)  # second, queries, txt
    queries: int = 0
    txt: int = 0
    subdomains: dict[str, float] = field(default_factory=dict)  # subdomain -> last seen

    def prune(self, now: float, window: float) -> None:
        horizon = now - window
        while self.buckets and self.buckets[0][0] < int(horizon):
            _, queries, txt = self.buckets.popleft()
            self.queries -= queries
            self.txt -= txt
        if self.subdomains and min(self.subdomains.values()) < horizon:
            self.subdomains = {s: t for s, t in self.subdomains.items() if t >= horizon}

    def add(self, now: float, subdomain: str, txt_like: bool, max_unique: int) -> None:
        second = int(now)
        if self.buckets and self.buckets[-1][0] == second:
            _, queries, txt = self.buckets[-1]
            self.buckets[-1] = (second, queries + 1, txt + txt_like)
        else:
            self.buckets.append((second, 1, int(txt_like)))
        self.queries += 1
        self.txt += txt_like
        # One more than the threshold is all that must be known: the set stays bounded.
        if subdomain in self.subdomains or len(self.subdomains) <= max_unique:
            self.subdomains[subdomain] = now


class TunnelDetector:
    """Sliding windows per (client, registered domain) and the blocks detections cause."""

    def __init__(self, policy: TunnellingPolicy, clock: Callable[[], float]) -> None:
        self.policy = policy
        self._clock = clock
        self._windows: OrderedDict[tuple[str, str], _Window] = OrderedDict()
        self._blocks: OrderedDict[tuple[str, str], float] = OrderedDict()

    def observe(self, client: str, domain: str, subdomain: str, qtype: int) -> tuple[Signal, ...]:
        """Count one query; the window signals it raises (each at most once per query)."""
        now = self._clock()
        key = (client, domain)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window()
            if len(self._windows) > MAX_KEYS:
                self._windows.popitem(last=False)
        else:
            self._windows.move_to_end(key)
        policy = self.policy
        window.prune(now, policy.window_seconds)
        window.add(now, subdomain, qtype in TXT_LIKE_TYPES, policy.max_unique_subdomains)
        found: list[Signal] = []
        if len(window.subdomains) > policy.max_unique_subdomains:
            found.append(Signal.UNIQUE_SUBDOMAINS)
        if window.queries > policy.max_queries:
            found.append(Signal.QUERY_RATE)
        if window.queries >= policy.txt_share_min_queries and (
            window.txt / window.queries > policy.max_txt_share
        ):
            found.append(Signal.TXT_SHARE)
        return tuple(found)

    def block(self, client: str, domain: str) -> None:
        key = (client, domain)
        self._blocks[key] = self._clock() + self.policy.block_seconds
        self._blocks.move_to_end(key)
        if len(self._blocks) > MAX_BLOCKS:
            # The oldest block goes first; it is also the one closest to its end.
            self._blocks.popitem(last=False)

    def blocked(self, client: str, domain: str) -> bool:
        until = self._blocks.get((client, domain))
        if until is None:
            return False
        if self._clock() >= until:
            del self._blocks[(client, domain)]
            return False
        return True
