"""The compiled `dns:` section of a rule file: what the DNS server (proxy/dns/) reads.

Record types are numbers here (the wire values), so that the policy layer does not depend on a
DNS library; `RECORD_TYPES` names the ones a rule file may list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Address, IPv6Address

from proxy.policy.hosts import HostPattern

IPAddress = IPv4Address | IPv6Address

# The record types a rule file may name (IANA numbers). ANY, AXFR, IXFR and OPT are never
# configurable: ANY would mean "every type", the others are not questions a stub asks.
RECORD_TYPES: dict[str, int] = {
    "A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "NULL": 10, "PTR": 12, "MX": 15, "TXT": 16,
    "AAAA": 28, "SRV": 33, "NAPTR": 35, "DS": 43, "SSHFP": 44, "RRSIG": 46, "DNSKEY": 48,
    "TLSA": 52, "SVCB": 64, "HTTPS": 65, "CAA": 257,
}
RECORD_TYPE_NAMES: dict[int, str] = {number: name for name, number in RECORD_TYPES.items()}
DEFAULT_RECORD_TYPES: frozenset[int] = frozenset(
    RECORD_TYPES[name] for name in ("A", "AAAA", "CNAME", "HTTPS", "SVCB")
)
DEFAULT_DNS_PORT = 53


class BlockedRcode(StrEnum):
    NXDOMAIN = "nxdomain"
    REFUSED = "refused"


ALL_CLIENTS_FACTOR = 10  # all-clients thresholds by default: this many clients' worth


class TunnelAction(StrEnum):
    BLOCK = "block"  # the query is refused and the client's queries to the domain for a while
    ALERT = "alert"  # logged and counted only


@dataclass(frozen=True, kw_only=True)
class TunnellingPolicy:
    """Thresholds of the tunnelling detector (proxy/dns/tunnelling.py); see docs/rules.md."""

    action: TunnelAction = TunnelAction.BLOCK
    block_seconds: float = 300.0
    window_seconds: float = 60.0
    # Per query.
    max_label_length: int = 52
    max_name_length: int = 160
    encoded_min_length: int = 24  # a label this long that reads as hex/base32/base64 is a payload
    entropy_min_length: int = 24  # labels shorter than this are not judged by entropy
    max_label_entropy: float = 4.0  # Shannon bits per character
    # Per client and registered domain, in the sliding window.
    max_unique_subdomains: int = 60
    # The same over a longer window: a tunnel of one query a second stays under the short one.
    long_window_seconds: float = 3600.0
    max_unique_subdomains_long: int = 300
    max_queries: int = 1200
    max_txt_share: float = 0.5  # share of TXT/NULL queries...
    txt_share_min_queries: int = 12  # ...once this many queries were seen
    # Questions that went upstream (cache misses): a codebook of ordinary names re-asked as
    # their answers expire grows no distinct count, only this one.
    max_forwarded: int = 300
    max_forwarded_long: int = 3600
    # All clients together, per window key: many (or forged) addresses, or one cycling through
    # more than the detector's client table, multiply the per-client budget. Tripping one
    # blocks the key for everyone. The rule-file loader defaults them to
    # ALL_CLIENTS_FACTOR times the per-client thresholds.
    all_clients_max_unique_subdomains: int = 600
    all_clients_max_unique_subdomains_long: int = 3000
    all_clients_max_forwarded: int = 3000
    all_clients_max_forwarded_long: int = 36_000


@dataclass(frozen=True, kw_only=True)
class ExtraTypes:
    """More record types for some names (which must still be allowed by `destinations`)."""

    hosts: tuple[HostPattern, ...]
    types: frozenset[int]


@dataclass(frozen=True, kw_only=True)
class UpstreamResolver:
    address: IPAddress
    port: int = DEFAULT_DNS_PORT

    def __str__(self) -> str:
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{host}:{self.port}"


@dataclass(frozen=True, kw_only=True)
class DnsPolicy:
    upstreams: tuple[UpstreamResolver, ...] = ()
    blocked_rcode: BlockedRcode = BlockedRcode.NXDOMAIN
    record_types: frozenset[int] = DEFAULT_RECORD_TYPES
    extra_types: tuple[ExtraTypes, ...] = ()
    timeout_seconds: float = 2.0  # upstream answer bound, then SERVFAIL
    cache_entries: int = 10_000
    max_ttl: int = 3600
    # The shortest time a positive answer is cached, whatever its TTL (0 included): a zone that
    # answers with TTL 0 cannot make every repeat of a name go upstream.
    min_ttl: int = 30
    negative_ttl: int = 30  # how long NXDOMAIN / NODATA from upstream are cached
    client_qps: float = 2000.0  # per client address, token bucket refill
    client_burst: int = 4000
    tunnelling: TunnellingPolicy = field(default_factory=TunnellingPolicy)

    def types_for(self, host: str) -> frozenset[int]:
        types = self.record_types
        for extra in self.extra_types:
            if any(pattern.matches(host) for pattern in extra.hosts):
                types = types | extra.types
        return types
