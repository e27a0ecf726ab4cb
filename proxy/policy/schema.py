"""The shape of a version 1 rule file: strict pydantic models plus the checks that span fields.

`validate_rules(data)` is the entry point; it reports problems by location (a key path), and the
loader turns locations into line numbers. Nothing here knows about YAML or files.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import collapse_addresses, ip_address, ip_network
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    ValidationError,
)
from pydantic_core import ErrorDetails

from proxy.inspection.detectors import DETECTORS_BY_ID
from proxy.inspection.findings import Kind, Severity
from proxy.policy.dns_schema import DnsSpec, ExtraTypesSpec, TunnellingSpec
from proxy.policy.hosts import HostError, is_ip_literal, normalise_host
from proxy.policy.model import (
    DEFAULT_CLEAN_CACHE_ENTRIES,
    DEFAULT_CPU_SECONDS_PER_MIB,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_DEPTH,
    IPNetwork,
)
from proxy.policy.schema_common import HostText, Strict, reject

RULES_VERSION = 1
SEVERITY_NAMES: tuple[str, ...] = tuple(severity.label for severity in reversed(Severity))
MAX_BODY_LIMIT = 1024 * 1024 * 1024
MAX_DEPTH_LIMIT = 5
MAX_CLEAN_CACHE_ENTRIES = 4_000_000  # ~400 MB of keys: more is a typo
MIN_CPU_SECONDS_PER_MIB = 0.1  # below the honest cost: every large body would be refused
MAX_CPU_SECONDS_PER_MIB = 60.0
MAX_THRESHOLD = 1_000_000
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")
# RFC 9110 token characters: what an HTTP method may be made of.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Path characters that a request path can never contain as such (they arrive percent-encoded).
_PATH_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f]")
_YAML11_BOOLEANS = {"yes": "true", "on": "true", "y": "true", "no": "false", "off": "false",
                    "n": "false"}

Loc = tuple[str | int, ...]
_T = TypeVar("_T")
_S = TypeVar("_S", bound=BaseModel)


@dataclass(frozen=True)
class Issue:
    """One problem in a rule file, located by its key path (e.g. ("destinations", 0, "ports"))."""

    loc: Loc
    message: str
    fix: str | None = None


# --- single values -------------------------------------------------------------------------


def _not_null(value: _T) -> _T:
    """An explicit empty value ("methods:" and nothing) must not silently mean the default."""
    if value is None:
        raise reject("has no value", "give it a value, or remove the key to use the default")
    return value


def _check_version(value: int) -> int:
    if value != RULES_VERSION:
        raise reject(
            f"unsupported rule file version {value}; this Glassbreak reads version "
            f"{RULES_VERSION}",
            f"set version: {RULES_VERSION}",
        )
    return value


def _check_id(value: str) -> str:
    if not ID_PATTERN.fullmatch(value):
        suggestion = re.sub(r"[^a-z0-9_.-]+", "-", value.lower()).strip("-_.")[:63]
        fix = f"for example id: {suggestion}" if ID_PATTERN.fullmatch(suggestion) else None
        raise reject(
            f"{value!r} is not a valid id: use 1 to 63 lower-case letters, digits, '_', "
            "'.' or '-', starting with a letter or digit",
            fix,
        )
    return value


def _parse_cidr(value: str) -> IPNetwork:
    """A network written exactly: "10.0.0.1/8" is refused with the fix "10.0.0.0/8"."""
    try:
        return ip_network(value, strict=True)
    except ValueError:
        pass
    try:
        loose = ip_network(value, strict=False)
    except ValueError:
        raise reject(
            f"{value!r} is not a valid CIDR network",
            "write an address and a prefix length, e.g. 10.0.0.0/8 or 2001:db8::/32",
        ) from None
    raise reject(
        f"{value!r} has host bits set after the prefix length",
        f"write {loose}",
    )


def _check_cidr(value: str) -> str:
    _parse_cidr(value)
    return value


def _check_private_cidr(value: str) -> str:
    if _parse_cidr(value).prefixlen == 0:
        raise reject(
            f"{value!r} covers every address: that would turn private-address "
            "protection off",
            "list only the private networks the agent needs, e.g. 10.20.0.0/16",
        )
    return value


def _check_port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise reject(f"port {value} is out of range", "use a port from 1 to 65535")
    return value


def _check_method(value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise reject(f"method {value!r} is not an HTTP method", "write e.g. GET or POST")
    method = value.upper()
    if method == "CONNECT":
        raise reject(
            "method CONNECT cannot be listed: CONNECT is how a tunnel opens, and it is governed "
            "by the host and ports of the entry",
            "remove CONNECT; HTTPS to an allowed host and port already works",
        )
    return method


def _check_path(value: str) -> str:
    if not value.startswith("/"):
        raise reject(f"path {value!r} must start with '/'", f"write /{value.lstrip('/')}")
    if "?" in value or "#" in value:
        base = re.split(r"[?#]", value, maxsplit=1)[0]
        raise reject(
            f"path {value!r} contains a query or fragment; paths are matched without them",
            f"write {base}",
        )
    if _PATH_FORBIDDEN.search(value):
        raise reject(f"path {value!r} contains whitespace or control characters")
    if any(segment in (".", "..") for segment in value.split("/")):
        raise reject(
            f"path {value!r} contains a '.' or '..' segment; request paths are matched after "
            "normalisation, so this prefix could never match",
            "write the path without dot segments",
        )
    return value


def _check_host_name(value: str) -> str:
    """A `network.hosts` name: one exact host, never a wildcard or an address."""
    if "*" in value:
        raise reject(
            f"{value!r} is a wildcard; each name here is one exact host",
            "list each host by its full name",
        )
    try:
        host = normalise_host(value)
    except HostError as error:
        raise reject(str(error).rstrip(".")) from None
    if is_ip_literal(host):
        raise reject(
            f"{value!r} is an IP address; this map gives addresses to names",
            "use a host name as the key",
        )
    return value


def _check_address(value: str) -> str:
    try:
        ip_address(value)
    except ValueError:
        raise reject(
            f"{value!r} is not an IP address",
            "write an IPv4 or IPv6 address such as 10.0.0.5 or 2001:db8::5",
        ) from None
    if "%" in value:
        raise reject(f"{value!r} has an IPv6 zone id", "write the address without '%zone'")
    return value


def _one_or_list(value: object) -> object:
    """`name: 10.0.0.5` is shorthand for `name: [10.0.0.5]`."""
    return [value] if isinstance(value, str) else value


def _check_action_key(value: str) -> str:
    if value in SEVERITY_NAMES or value in DETECTORS_BY_ID:
        return value
    close = difflib.get_close_matches(value, [*SEVERITY_NAMES, *DETECTORS_BY_ID], n=1)
    raise reject(
        f"{value!r} is neither a severity ({', '.join(SEVERITY_NAMES)}) nor a detector id",
        f"did you mean {close[0]!r}?" if close else "see docs/inspection.md for detector ids",
    )


# Where findings are located (request_texts.py, body_fields.py): a location pattern names one.
LOCATION_CHANNELS = ("url.path", "url.target", "query:", "header:", "trailer:", "cookie:",
                     "body", "form:", "multipart:", "websocket:")


def _check_location(value: str) -> str:
    if not value.startswith(LOCATION_CHANNELS):
        raise reject(f"location {value!r} names no part of a request",
                     "start it with one of " + ", ".join(LOCATION_CHANNELS)
                     + " (a finding's `location` in the audit log)")
    if value.startswith(("header:", "trailer:")):
        return value.lower()  # header names are located in lower case
    return value


def _check_pii_detector(value: str) -> str:
    detector = DETECTORS_BY_ID.get(value)
    if detector is None or detector.kind is not Kind.PII:
        pii = sorted(d.id for d in DETECTORS_BY_ID.values() if d.kind is Kind.PII)
        raise reject(f"{value!r} is not a PII detector", "use one of " + ", ".join(pii))
    return value


def _check_body_limit(value: int) -> int:
    if not 1 <= value <= MAX_BODY_LIMIT:
        raise reject(f"{value} is out of range",
                      f"use a number of bytes from 1 to {MAX_BODY_LIMIT} (1 GiB)")
    return value


def _check_threshold(value: int) -> int:
    if not 1 <= value <= MAX_THRESHOLD:
        raise reject(f"threshold {value} is out of range",
                      f"use a count of distinct values from 1 to {MAX_THRESHOLD}")
    return value


def _check_hash(value: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise reject(f"{value[:12]}... is not a keyed hash",
                      "copy the 64 hex characters of a finding's keyed_hash from the audit log")
    return value


# --- types ---------------------------------------------------------------------------------

_NotNull = BeforeValidator(_not_null)
_NonEmpty = Field(min_length=1)

ModeName = Literal["enforce", "monitor"]
RuleId = Annotated[str, AfterValidator(_check_id)]
CidrText = Annotated[str, AfterValidator(_check_cidr)]
PrivateCidrText = Annotated[str, AfterValidator(_check_private_cidr)]
Port = Annotated[int, AfterValidator(_check_port)]
Method = Annotated[str, AfterValidator(_check_method)]
PathPrefix = Annotated[str, AfterValidator(_check_path)]
HostName = Annotated[str, AfterValidator(_check_host_name)]
AddressText = Annotated[str, AfterValidator(_check_address)]
AddressList = Annotated[list[AddressText], BeforeValidator(_one_or_list), _NonEmpty]


ActionKey = Annotated[str, AfterValidator(_check_action_key)]
ActionName = Literal["allow", "alert", "redact", "block"]
OversizeName = Literal["block", "forward"]
BodyLimit = Annotated[int, AfterValidator(_check_body_limit)]
PiiDetectorId = Annotated[str, AfterValidator(_check_pii_detector)]
Threshold = Annotated[int, AfterValidator(_check_threshold)]
KeyedHash = Annotated[str, AfterValidator(_check_hash)]
LocationPattern = Annotated[str, AfterValidator(_check_location)]


class LocationActionSpec(Strict):
    """One item of a destination's `inspection.location_actions`."""

    detector: ActionKey
    locations: Annotated[list[LocationPattern], _NonEmpty]
    action: ActionName


class DestinationInspectionSpec(Strict):
    """`inspection:` inside a destination: what differs for this destination."""

    location_actions: list[LocationActionSpec] = Field(default_factory=list)
    actions: dict[ActionKey, ActionName] = Field(default_factory=dict)
    max_body_bytes: Annotated[BodyLimit | None, _NotNull] = None
    oversize: Annotated[OversizeName | None, _NotNull] = None


class InspectionSpec(Strict):
    """The top-level `inspection:` section."""

    enabled: bool = True
    max_depth: Annotated[int, Field(ge=0, le=MAX_DEPTH_LIMIT)] = DEFAULT_MAX_DEPTH
    max_body_bytes: BodyLimit = DEFAULT_MAX_BODY_BYTES
    oversize: OversizeName = "block"
    actions: dict[ActionKey, ActionName] = Field(default_factory=dict)
    pii_thresholds: dict[PiiDetectorId, Threshold] = Field(default_factory=dict)
    exempt_hashes: list[KeyedHash] = Field(default_factory=list)
    clean_cache_entries: Annotated[int, Field(ge=0, le=MAX_CLEAN_CACHE_ENTRIES)] = (
        DEFAULT_CLEAN_CACHE_ENTRIES
    )
    cpu_seconds_per_mib: Annotated[float, Field(ge=MIN_CPU_SECONDS_PER_MIB,
                                                le=MAX_CPU_SECONDS_PER_MIB)] = (
        DEFAULT_CPU_SECONDS_PER_MIB
    )


class DestinationSpec(Strict):
    """One entry of `destinations:` as written (defaults are filled in by the loader)."""

    id: Annotated[RuleId | None, _NotNull] = None
    action: Literal["allow", "deny"] = "allow"
    host: Annotated[HostText | None, _NotNull] = None
    hosts: Annotated[Annotated[list[HostText], _NonEmpty] | None, _NotNull] = None
    cidrs: Annotated[Annotated[list[CidrText], _NonEmpty] | None, _NotNull] = None
    ports: Annotated[Annotated[list[Port], _NonEmpty] | None, _NotNull] = None
    schemes: Annotated[
        Annotated[list[Literal["https", "http"]], _NonEmpty] | None, _NotNull
    ] = None
    methods: Annotated[Annotated[list[Method], _NonEmpty] | None, _NotNull] = None
    paths: Annotated[Annotated[list[PathPrefix], _NonEmpty] | None, _NotNull] = None
    inspect: bool = True
    raw_tcp: bool = False
    mode: Annotated[ModeName | None, _NotNull] = None
    final: bool = False
    inspection: Annotated[DestinationInspectionSpec | None, _NotNull] = None


class NetworkSpec(Strict):
    allow_private: list[PrivateCidrText] = Field(default_factory=list)
    hosts: dict[HostName, AddressList] = Field(default_factory=dict)


class RuleFileSpec(Strict):
    version: Annotated[int, AfterValidator(_check_version)]
    mode: ModeName = "enforce"
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    inspection: InspectionSpec = Field(default_factory=InspectionSpec)
    dns: DnsSpec = Field(default_factory=DnsSpec)
    destinations: list[DestinationSpec] = Field(default_factory=list)


_MODELS_BY_DEPTH: dict[tuple[str, int], type[BaseModel]] = {
    ("", 1): RuleFileSpec,
    ("network", 2): NetworkSpec,
    ("destinations", 3): DestinationSpec,
    ("destinations", 4): DestinationInspectionSpec,
    ("destinations", 6): LocationActionSpec,
    ("inspection", 2): InspectionSpec,
    ("dns", 2): DnsSpec,
    ("dns", 3): TunnellingSpec,
    ("dns", 4): ExtraTypesSpec,
}
_FIELD_NAMES = frozenset(name for model in _MODELS_BY_DEPTH.values() for name in model.model_fields)


# --- the entry point -----------------------------------------------------------------------


def validate_rules(data: object) -> tuple[RuleFileSpec | None, list[Issue]]:
    """Validate a parsed rule file; the spec is returned only when there is no issue at all."""
    issues: list[Issue] = []
    try:
        spec: RuleFileSpec | None = RuleFileSpec.model_validate(data)
    except ValidationError as error:
        spec = None
        issues.extend(_issue_from_error(details) for details in error.errors())

    # Cross-field checks run on every part that is valid on its own, so that one pass reports
    # them alongside the field errors of other entries.
    raw = data if isinstance(data, dict) else {}
    network = spec.network if spec else _valid_or_none(NetworkSpec, raw.get("network", {}))
    if network is not None:
        issues.extend(network_issues(network))
    dns = spec.dns if spec else _valid_or_none(DnsSpec, raw.get("dns", {}))
    if dns is not None:
        issues.extend(all_clients_issues(dns.tunnelling))
    raw_destinations = raw.get("destinations", [])
    if isinstance(raw_destinations, list):
        for index, entry in enumerate(raw_destinations):
            destination = _valid_or_none(DestinationSpec, entry)
            if destination is not None:
                issues.extend(destination_issues(destination, ("destinations", index)))
        issues.extend(duplicate_id_issues(raw_destinations))
    return (spec if not issues else None), issues


def default_id(index: int) -> str:
    """The id of an entry without one: "dest-N", N counting from 1."""
    return f"dest-{index + 1}"


def _valid_or_none(model: type[_S], data: object) -> _S | None:
    try:
        return model.model_validate(data)
    except ValidationError:
        return None


# --- checks across fields ------------------------------------------------------------------


def destination_issues(destination: DestinationSpec, loc: Loc) -> list[Issue]:
    """What a single entry gets wrong although each of its fields is valid."""
    issues = _target_issues(destination, loc)
    if not destination.inspect:
        for key in ("methods", "paths"):
            if getattr(destination, key) is not None:
                issues.append(Issue(
                    (*loc, key),
                    f"{key} cannot be checked with inspect: false: the tunnel is passed through "
                    f"by SNI without interception, so the proxy never sees the {key}",
                    f"remove {key}, or set inspect: true",
                ))
    if destination.action == "deny":
        if not destination.inspect:
            issues.append(Issue(
                (*loc, "inspect"),
                "inspect: false means nothing on a deny entry: a denied connection is never opened",
                "remove inspect from this entry",
            ))
        if destination.raw_tcp:
            issues.append(Issue(
                (*loc, "raw_tcp"),
                "raw_tcp: true means nothing on a deny entry: a denied connection is never opened",
                "remove raw_tcp from this entry",
            ))
    return issues


def _target_issues(destination: DestinationSpec, loc: Loc) -> list[Issue]:
    targets = [key for key in ("host", "hosts", "cidrs") if getattr(destination, key) is not None]
    if not targets:
        return [Issue(
            loc,
            "destination has none of host, hosts or cidrs: it would match nothing",
            "add host: NAME, hosts: [NAME, ...] or cidrs: [NETWORK, ...]",
        )]
    if len(targets) > 1:
        return [Issue(
            (*loc, targets[1]),
            f"destination has both {targets[0]} and {targets[1]}; give exactly one of host, "
            "hosts or cidrs",
            "put every name under hosts: [...], and networks in a destination of their own",
        )]
    return []


def duplicate_id_issues(raw_destinations: Sequence[object]) -> list[Issue]:
    """Ids must be unique, counting the "dest-N" an entry without an id gets."""
    issues: list[Issue] = []
    first_seen: dict[str, int] = {}
    for index, entry in enumerate(raw_destinations):
        explicit = entry.get("id") if isinstance(entry, dict) else None
        rule_id = explicit if isinstance(explicit, str) else default_id(index)
        if rule_id in first_seen:
            loc: Loc = ("destinations", index, "id") if explicit is not None else (
                "destinations", index)
            issues.append(Issue(
                loc,
                f"id {rule_id!r} is already used by destination {first_seen[rule_id] + 1}"
                + ("" if explicit is not None else " (this entry gets it by default)"),
                "give every destination a unique id",
            ))
        else:
            first_seen[rule_id] = index
    return issues


def network_issues(network: NetworkSpec) -> list[Issue]:
    """Names that collide once normalised; private networks that add up to everything."""
    issues: list[Issue] = []
    seen: dict[str, str] = {}
    for name in network.hosts:
        host = normalise_host(name)
        if host in seen:
            issues.append(Issue(
                ("network", "hosts", name),
                f"network.hosts: {name!r} is the same host as {seen[host]!r}",
                "merge the two entries",
            ))
        seen.setdefault(host, name)
    networks = [ip_network(text) for text in network.allow_private]
    if _covers_everything(networks) and all(n.prefixlen > 0 for n in networks):
        issues.append(Issue(
            ("network", "allow_private"),
            "allow_private: together these networks cover every address: that would turn "
            "private-address protection off",
            "list only the private networks the agent needs, e.g. 10.20.0.0/16",
        ))
    return issues


def all_clients_issues(tunnelling: TunnellingSpec) -> list[Issue]:
    """An all-clients threshold below its per-client one would let one client block a domain
    for every client (the per-client threshold would never be the one that trips)."""
    issues: list[Issue] = []
    for per_client in ("max_unique_subdomains", "max_unique_subdomains_long", "max_forwarded",
                       "max_forwarded_long"):
        key = f"all_clients_{per_client}"
        value, floor = getattr(tunnelling, key), getattr(tunnelling, per_client)
        if value is not None and value < floor:
            issues.append(Issue(
                ("dns", "tunnelling", key),
                f"{key} ({value}) is below {per_client} ({floor}): one client alone would "
                "block the domain for every client",
                f"set {key} to at least {floor}, or remove it (default: 10 times {per_client})",
            ))
    return issues


def _covers_everything(networks: Iterable[IPNetwork]) -> bool:
    by_version: dict[int, list[IPNetwork]] = {4: [], 6: []}
    for network in networks:
        by_version[network.version].append(network)
    return any(
        collapsed.prefixlen == 0
        for group in by_version.values()
        for collapsed in collapse_addresses(group)  # type: ignore[type-var]
    )


# --- pydantic errors in the words of the rule file -----------------------------------------


def _issue_from_error(details: ErrorDetails) -> Issue:
    loc: Loc = tuple(details["loc"])
    kind = details["type"]
    value = details.get("input")
    context = details.get("ctx", {})
    label = _label(loc)
    if kind == "rule_file":
        message = str(context["message"])
        fix = context.get("fix")
        if label and not message.startswith("host pattern"):
            message = f"{label}: {message}"
        return Issue(loc, message, _text_or_none(fix))
    if kind == "missing":
        return Issue(loc, f"missing required key {loc[-1]!r}", _missing_fix(loc[-1]))
    if kind == "extra_forbidden":
        return Issue(loc, f"unknown key {loc[-1]!r}", _unknown_key_fix(loc))
    message, fix = _type_message(kind, value, context, details["msg"])
    return Issue(loc, f"{label}: {message}" if label else message, fix)


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _type_message(
    kind: str, value: object, context: dict[str, Any], default: str
) -> tuple[str, str | None]:
    got = _describe(value)
    if kind == "int_type":
        fix = None
        if isinstance(value, str):
            fix = f"write {int(value)}, in decimal without quotes" if value.isdigit() else (
                "write a decimal integer")
        return f"expected an integer, got {got}", fix
    if kind == "bool_type":
        return f"expected true or false, got {got}", _bool_fix(value)
    if kind == "string_type":
        fix = "put it in quotes" if isinstance(value, int | float) else None
        return f"expected text, got {got}", fix
    if kind == "list_type":
        fix = f"write it as a list: [{value}]" if isinstance(value, str | int) else None
        return f"expected a list, got {got}", fix
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping of keys to values, got {got}", None
    if kind == "literal_error":
        expected = str(context.get("expected", ""))
        fix = None
        if isinstance(value, str) and value.lower() != value and f"'{value.lower()}'" in expected:
            fix = f"write {value.lower()}"
        return f"expected {expected}, got {got}", fix
    if kind == "too_short":
        return "must not be empty", "list at least one value, or remove the key"
    return default, None


def _bool_fix(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    if value.lower() in ("true", "false"):
        return f"write {value.lower()} without quotes"
    if value.lower() in _YAML11_BOOLEANS:
        return f"write {_YAML11_BOOLEANS[value.lower()]}"
    return "write true or false"


def _missing_fix(key: str | int) -> str | None:
    return f"add version: {RULES_VERSION} at the top" if key == "version" else None


def _unknown_key_fix(loc: Loc) -> str:
    section = loc[0] if len(loc) > 1 and isinstance(loc[0], str) else ""
    model = _MODELS_BY_DEPTH.get((section, len(loc)))
    if model is None:
        return "remove it"
    known = list(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return "known keys: " + ", ".join(known)


def _label(loc: Loc) -> str:
    """The schema key a location is under: list indexes and host names in maps are skipped."""
    for part in reversed(loc):
        if isinstance(part, str) and part in _FIELD_NAMES:
            return "network.hosts" if part == "hosts" and loc[0] == "network" else part
    return ""


def _describe(value: object) -> str:
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return repr(shown)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
