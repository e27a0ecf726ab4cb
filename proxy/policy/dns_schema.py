"""The shape of the `dns:` section of a rule file (strict, like the rest of proxy/policy/schema.py).

Errors are raised as pydantic custom errors of type "rule_file", which schema.py words and the
loader places on a line.
"""

from __future__ import annotations

from ipaddress import ip_address
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from proxy.policy.dns_model import DEFAULT_DNS_PORT, RECORD_TYPES
from proxy.policy.schema_common import HostText, Strict, reject

MAX_UPSTREAMS = 8
MAX_SECONDS = 86_400.0
MAX_MIN_TTL = 300


def parse_upstream(text: str) -> tuple[str, int]:
    """'9.9.9.9', '9.9.9.9:53', '[2620:fe::fe]:53' or '2620:fe::fe' -> (address, port)."""
    host, port_text = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ValueError(f"{text!r} has text after ']' that is not ':PORT'")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    if "%" in host:
        raise ValueError(f"{text!r} has an IPv6 zone id")
    try:
        ip_address(host)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address (names cannot be resolved before the "
                         "resolver exists)") from None
    if port_text == "":
        return host, DEFAULT_DNS_PORT
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"{text!r} has an invalid port")
    return host, int(port_text)


def _check_upstream(value: str) -> str:
    try:
        parse_upstream(value)
    except ValueError as error:
        raise reject(f"upstream {error}", "write an IP address with an optional port, e.g. "
                      "9.9.9.9, 10.0.0.2:5353 or [2620:fe::fe]:53") from None
    return value


def _check_type(value: str) -> str:
    name = value.upper()
    if name not in RECORD_TYPES:
        known = ", ".join(RECORD_TYPES)
        if name in ("ANY", "AXFR", "IXFR", "OPT", "*"):
            raise reject(f"record type {value!r} cannot be listed: it is not one type of "
                          "answer", f"list the types needed, from {known}")
        raise reject(f"{value!r} is not a record type this server knows", f"use one of {known}")
    return name


def _seconds(low: float) -> Any:
    return Field(ge=low, le=MAX_SECONDS)


RecordType = Annotated[str, AfterValidator(_check_type)]
UpstreamText = Annotated[str, AfterValidator(_check_upstream)]
Count = Annotated[int, Field(ge=1, le=1_000_000)]
Length = Annotated[int, Field(ge=1, le=255)]


class TunnellingSpec(Strict):
    """`dns.tunnelling:` thresholds (defaults in proxy/policy/dns_model.py)."""

    action: Literal["block", "alert"] = "block"
    block_seconds: Annotated[float, _seconds(1.0)] = 300.0
    window_seconds: Annotated[float, _seconds(1.0)] = 60.0
    max_label_length: Length = 52
    max_name_length: Length = 160
    encoded_min_length: Annotated[int, Field(ge=8, le=63)] = 24
    entropy_min_length: Annotated[int, Field(ge=8, le=63)] = 24
    max_label_entropy: Annotated[float, Field(ge=1.0, le=8.0)] = 4.0
    max_unique_subdomains: Count = 60
    long_window_seconds: Annotated[float, _seconds(1.0)] = 3600.0
    max_unique_subdomains_long: Count = 300
    max_queries: Count = 1200
    max_txt_share: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    txt_share_min_queries: Count = 12
    max_forwarded: Count = 300
    max_forwarded_long: Count = 3600
    # None: ALL_CLIENTS_FACTOR times the per-client threshold (proxy/policy/loader.py).
    all_clients_max_unique_subdomains: Count | None = None
    all_clients_max_unique_subdomains_long: Count | None = None
    all_clients_max_forwarded: Count | None = None
    all_clients_max_forwarded_long: Count | None = None


class ExtraTypesSpec(Strict):
    """One entry of `dns.extra_types:`: more record types for some names."""

    hosts: Annotated[list[HostText], Field(min_length=1)]
    types: Annotated[list[RecordType], Field(min_length=1)]


class DnsSpec(Strict):
    """The top-level `dns:` section."""

    upstreams: Annotated[list[UpstreamText], Field(max_length=MAX_UPSTREAMS)] = Field(
        default_factory=list)
    blocked_rcode: Literal["nxdomain", "refused"] = "nxdomain"
    record_types: Annotated[list[RecordType], Field(min_length=1)] = Field(
        default_factory=lambda: ["A", "AAAA", "CNAME", "HTTPS", "SVCB"])
    extra_types: list[ExtraTypesSpec] = Field(default_factory=list)
    timeout_seconds: Annotated[float, Field(ge=0.05, le=30.0)] = 2.0
    cache_entries: Annotated[int, Field(ge=0, le=1_000_000)] = 10_000
    max_ttl: Annotated[int, Field(ge=0, le=604_800)] = 3600
    # A floor longer than a few minutes would hold stale answers past an honest failover.
    min_ttl: Annotated[int, Field(ge=0, le=MAX_MIN_TTL)] = 30
    negative_ttl: Annotated[int, Field(ge=0, le=86_400)] = 30
    client_qps: Annotated[float, Field(ge=1.0, le=1_000_000.0)] = 2000.0
    client_burst: Count = 4000
    tunnelling: TunnellingSpec = Field(default_factory=TunnellingSpec)
