"""The compiled, validated form of a rule file: what `decide` reads.

Built only by the loader (proxy/policy/loader.py); every value here has already been checked, so
the decision path never meets a bad value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from fnmatch import fnmatchcase
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from proxy.netsafety.addresses import effective_address
from proxy.policy.dns_model import DnsPolicy
from proxy.policy.hosts import HostPattern

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

DEFAULT_PORTS: frozenset[int] = frozenset({443, 80})
DEFAULT_SCHEMES: frozenset[str] = frozenset({"https", "http"})


class Mode(StrEnum):
    ENFORCE = "enforce"
    MONITOR = "monitor"


class Effect(StrEnum):
    ALLOW = "allow"
    DENY = "deny"


class FindingAction(StrEnum):
    """What to do with a finding, weakest first; the strongest action over all findings wins."""

    ALLOW = "allow"  # not a finding for this destination (e.g. its own provider's API key)
    ALERT = "alert"  # forward, log, count
    REDACT = "redact"  # forward with the value replaced by a placeholder
    BLOCK = "block"

    @property
    def strength(self) -> int:
        return _ACTION_STRENGTH[self]


_ACTION_STRENGTH = {FindingAction.ALLOW: 0, FindingAction.ALERT: 1, FindingAction.REDACT: 2,
                    FindingAction.BLOCK: 3}


class Oversize(StrEnum):
    BLOCK = "block"  # a body above the limit is refused: never forwarded unscanned
    FORWARD = "forward"  # an explicit choice to forward it unscanned (logged)


DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_DEPTH = 3
DEFAULT_CLEAN_CACHE_ENTRIES = 65536
# CPU that peeling one request may spend, per MiB of its texts (at least MIN_CPU_SECONDS): an
# LLM request costs about 0.3 s per MiB here, an archive of source or docs 1 to 1.6 s (its
# text is peeled whole, in each of its whole-text decodings), random tokens by the thousand
# about 3 s; one process serves every sandbox on one thread (see docs/inspection.md)
DEFAULT_CPU_SECONDS_PER_MIB = 4.0
MIN_CPU_SECONDS = 2.0


@dataclass(frozen=True, kw_only=True)
class LocationAction:
    """An action for one detector (or severity) where it is found in some locations only: the
    SigV4 `Authorization` header to S3 may carry an access key id, the objects put there not."""

    key: str  # detector id or severity label
    # Finding locations (`header:authorization`, `body:$.client_secret`): exact, or with `*`
    # standing for any characters (fnmatch, case-sensitive; header names are lower case).
    locations: tuple[str, ...]
    action: FindingAction

    def covers(self, location: str) -> bool:
        return any(fnmatchcase(location, pattern) for pattern in self.locations)


@dataclass(frozen=True, kw_only=True)
class InspectionOverrides:
    """A destination's own inspection settings; None/empty: the file's settings apply."""

    # Before `actions`: the first whose key is the finding's detector (then its severity) and
    # one of whose locations is the finding's.
    location_actions: tuple[LocationAction, ...] = ()
    # Keyed by detector id or severity label ("critical", "high", "medium", "low").
    actions: Mapping[str, FindingAction] = field(default_factory=dict)
    max_body_bytes: int | None = None
    oversize: Oversize | None = None


@dataclass(frozen=True, kw_only=True)
class InspectionPolicy:
    enabled: bool = True
    max_depth: int = DEFAULT_MAX_DEPTH
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    oversize: Oversize = Oversize.BLOCK
    # Keyed by detector id or severity label; what is not listed gets DEFAULT_ACTIONS.
    actions: Mapping[str, FindingAction] = field(default_factory=dict)
    # PII detector id -> distinct values in one request from which its action applies (below:
    # alert only). One email address in a commit is normal; a CSV of customers is not.
    pii_thresholds: Mapping[str, int] = field(default_factory=dict)
    exempt_hashes: frozenset[str] = frozenset()  # keyed hashes of known values to let through
    # Texts found clean remembered (by keyed hash) so a resent conversation is not re-inspected.
    clean_cache_entries: int = DEFAULT_CLEAN_CACHE_ENTRIES
    cpu_seconds_per_mib: float = DEFAULT_CPU_SECONDS_PER_MIB

    def cpu_seconds(self, characters: int) -> float:
        """The CPU peeling may spend on a request of this many characters of texts."""
        return max(MIN_CPU_SECONDS, self.cpu_seconds_per_mib * characters / (1 << 20))


@dataclass(frozen=True, kw_only=True)
class Destination:
    """One entry of `destinations:`. Matches by host pattern or by CIDR (IP-literal requests)."""

    id: str
    effect: Effect = Effect.ALLOW
    hosts: tuple[HostPattern, ...] = ()
    cidrs: tuple[IPNetwork, ...] = ()
    # None: every port. An allow entry without `ports` gets DEFAULT_PORTS; a deny entry without
    # `ports` denies the host on every port (a deny that a port number could dodge is no deny).
    ports: frozenset[int] | None = DEFAULT_PORTS
    schemes: frozenset[str] = DEFAULT_SCHEMES
    methods: frozenset[str] | None = None  # upper case; None: any method
    paths: tuple[str, ...] | None = None  # path prefixes; None: any path
    inspect: bool = True
    raw_tcp: bool = False
    mode: Mode = Mode.ENFORCE
    final: bool = False
    inspection: InspectionOverrides = field(default_factory=InspectionOverrides)
    line: int = 0  # where the entry starts in its rule file, for messages

    def matches_host(self, host: str) -> bool:
        """`host` is normalised and is not an IP literal."""
        return any(pattern.matches(host) for pattern in self.hosts)

    def matches_ip(self, address: IPAddress) -> bool:
        # An IPv4 address hidden in IPv6 (::ffff:a.b.c.d, NAT64...) is that IPv4 address.
        candidates = {address, effective_address(address)}
        return any(
            candidate in network
            for network in self.cidrs
            for candidate in candidates
            if candidate.version == network.version
        )


@dataclass(frozen=True, kw_only=True)
class NetworkPolicy:
    allow_private: tuple[IPNetwork, ...] = ()
    # Normalised name -> addresses, consulted before the system resolver.
    hosts: Mapping[str, tuple[IPAddress, ...]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Policy:
    version: int
    mode: Mode = Mode.ENFORCE
    destinations: tuple[Destination, ...] = ()
    network: NetworkPolicy = field(default_factory=NetworkPolicy)
    inspection: InspectionPolicy = field(default_factory=InspectionPolicy)
    dns: DnsPolicy = field(default_factory=DnsPolicy)
    source: str = "<memory>"

    def destination(self, rule_id: str) -> Destination | None:
        for destination in self.destinations:
            if destination.id == rule_id:
                return destination
        return None
