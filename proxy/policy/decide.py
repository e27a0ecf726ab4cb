"""`decide(facts, policy) -> Decision`: the one place where a request or connection is judged.

Pure: no I/O, no clock, no globals. Addons gather facts, call this, and apply the result.
Order matters and is the security argument:
1. the destination must be a valid host (no userinfo, no junk);
2. every name the client states (CONNECT target, SNI, Host / :authority) must agree;
3. the allowlist (deny entries first; no match means deny) — monitor mode may relax only this step;
4. every address the name resolved to must be safe to dial — never relaxed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from proxy.netsafety.addresses import (
    LIFTABLE,
    AddressClass,
    classify_address,
    effective_address,
)
from proxy.policy.decision import Decision, Facts, Stage
from proxy.policy.hosts import HostError, normalise_host, parse_ip_literal
from proxy.policy.model import Destination, Effect, IPAddress, IPNetwork, Mode, Policy
from proxy.policy.paths import aggressive_path, canonical_path, has_path_prefix
from proxy.policy.reasons import NEVER_MONITORED, Action, Reason


def decide(facts: Facts, policy: Policy) -> Decision:
    try:
        host = normalise_host(facts.host)
    except HostError:
        return _block(Reason.INVALID_HOST, host=None)
    if facts.malformed:  # what a check reads is not what the upstream would read
        return _block(Reason.REQUEST_MALFORMED, host=host)

    mismatch = _names_disagree(facts, host)
    if mismatch is not None:
        return _block(mismatch, host=host)

    decision = _apply_allowlist(facts, policy, host)
    if not decision.allowed:
        return decision

    if facts.addresses is not None:
        unsafe = _unsafe_addresses(facts.addresses, facts.port, facts, policy.network.allow_private)
        if unsafe is not None:
            return _block(unsafe, host=host, rule_id=decision.rule_id)
    return decision


def _block(reason: Reason, *, host: str | None, rule_id: str | None = None) -> Decision:
    return Decision(action=Action.BLOCK, reason=reason, rule_id=rule_id, host=host)


# --- step 2: names agree -------------------------------------------------------------------


def _names_disagree(facts: Facts, host: str) -> Reason | None:
    if facts.sni is not None and not _same_host(facts.sni, host):
        return Reason.SNI_MISMATCH
    for authority in facts.host_headers:
        if not _authority_matches(authority, host, facts.port):
            return Reason.HOST_MISMATCH
    return None


def _same_host(raw: str, host: str) -> bool:
    try:
        return normalise_host(raw) == host
    except HostError:
        return False


def _authority_matches(authority: str, host: str, port: int) -> bool:
    """A Host header / :authority names `host`, and `port` if it names one."""
    name, sep, port_text = authority.rpartition(":")
    # "[::1]:443" and "example.com:443" carry a port; "::1" unbracketed or "example.com" do not.
    if not sep or name.endswith(":") or (authority.startswith("[") and not name.endswith("]")):
        name, port_text = authority, ""
    if port_text and (not port_text.isdigit() or int(port_text) != port):
        return False
    return _same_host(name, host)


# --- step 3: the allowlist -----------------------------------------------------------------

# The order in which an allow entry's conditions are checked; the deepest failure names the reason.
_CONDITIONS: tuple[tuple[str, Reason], ...] = (
    ("port", Reason.PORT_NOT_ALLOWED),
    ("scheme", Reason.SCHEME_NOT_ALLOWED),
    ("method", Reason.METHOD_NOT_ALLOWED),
    ("path", Reason.PATH_NOT_ALLOWED),
)
_DEPTH: dict[Reason | None, int] = {reason: i for i, (_, reason) in enumerate(_CONDITIONS)}


def _apply_allowlist(facts: Facts, policy: Policy, host: str) -> Decision:
    address = parse_ip_literal(host)
    if address is not None:
        candidates = [d for d in policy.destinations if d.matches_ip(address)]
    else:
        candidates = [d for d in policy.destinations if d.matches_host(host)]

    for deny in (d for d in candidates if d.effect is Effect.DENY):
        if _first_failure(deny, facts, deny_entry=True) is None:
            return _relax(deny.mode, Reason.DENIED_BY_RULE, deny, host)

    allows = [d for d in candidates if d.effect is Effect.ALLOW]
    matching = [d for d in allows if _first_failure(d, facts, deny_entry=False) is None]
    if not matching:
        return _no_allow_entry(facts, policy, host, allows, ip_literal=address is not None)

    tunnel_problem = _tunnel_problem(facts, matching)
    if tunnel_problem is not None:
        return _relax(matching[0].mode, tunnel_problem, matching[0], host)
    if facts.dns_over_https:  # a resolver the DNS server would never see
        return _relax(matching[0].mode, Reason.DNS_OVER_HTTPS, matching[0], host)

    chosen = matching[0]
    # A deny entry limited to some methods or paths can only be enforced on requests we see.
    needs_requests = any(
        d.effect is Effect.DENY and (d.methods is not None or d.paths is not None)
        for d in candidates
    )
    return Decision(
        action=Action.ALLOW,
        reason=Reason.ALLOWED,
        rule_id=chosen.id,
        host=host,
        # Intercept unless every entry that matched asks for pass-through: when in doubt, look.
        inspect=needs_requests or any(d.inspect for d in matching),
        raw_tcp=any(d.raw_tcp for d in matching),
        final=chosen.final,
    )


def _no_allow_entry(
    facts: Facts, policy: Policy, host: str, allows: Sequence[Destination], *, ip_literal: bool
) -> Decision:
    if not allows:
        reason = Reason.IP_LITERAL_NOT_ALLOWED if ip_literal else Reason.HOST_NOT_ALLOWED
        return _relax(policy.mode, reason, None, host)
    # The entry that got furthest explains best why the request did not match.
    failures = [(d, _first_failure(d, facts, deny_entry=False)) for d in allows]
    closest, failure = max(failures, key=lambda pair: _DEPTH.get(pair[1], -1))
    return _relax(closest.mode, failure or Reason.HOST_NOT_ALLOWED, closest, host)


def _first_failure(d: Destination, facts: Facts, *, deny_entry: bool) -> Reason | None:
    """The first condition of `d` that `facts` fail, or None when `d` matches.

    A condition that cannot be known yet (method at CONNECT) matches for an allow entry, so the
    tunnel opens and each request is judged inside it; for a deny entry it does not, so a deny
    of `POST /x` does not shut the whole host.
    """
    for condition, reason in _CONDITIONS:
        verdict = _condition_holds(d, facts, condition)
        if verdict is None:
            if deny_entry and _condition_is_set(d, condition):
                return reason
            continue
        if not verdict:
            return reason
    return None


def _condition_is_set(d: Destination, condition: str) -> bool:
    return {"method": d.methods is not None, "path": d.paths is not None}.get(condition, False)


def _condition_holds(d: Destination, facts: Facts, condition: str) -> bool | None:
    """True / False, or None when the fact is not known at this stage."""
    if condition == "port":
        return d.ports is None or facts.port in d.ports
    if condition == "scheme":
        return None if facts.scheme is None else facts.scheme in d.schemes
    # The request line's method and path, and those it names for servers that obey overrides
    # (overrides.py): an allow entry must hold for all of them, a deny entry for any one.
    holds = any if d.effect is Effect.DENY else all
    if condition == "method":
        if d.methods is None:
            return True
        if facts.method is None:
            return None
        methods = d.methods  # narrowed for the generator
        return holds(method in methods
                     for method in (facts.method.upper(), *facts.override_methods))
    if d.paths is None:
        return True
    if facts.path is None:
        return None
    prefixes = d.paths
    return holds(_path_holds(d.effect, prefixes, path)
                 for path in (facts.path, *facts.override_paths))


def _path_holds(effect: Effect, prefixes: Iterable[str], path: str) -> bool:
    canonical, widest = canonical_path(path), aggressive_path(path)
    if effect is Effect.DENY:
        # A deny holds if any reading of the path a server might take falls under it.
        return any(
            has_path_prefix(form, prefix.casefold())
            for form in (canonical.casefold(), widest)
            for prefix in prefixes
        )
    # An allow holds only if every reading stays under one prefix (`/ok/..;/admin` does not).
    return any(
        has_path_prefix(canonical, prefix) and has_path_prefix(widest, prefix.casefold())
        for prefix in prefixes
    )


def _tunnel_problem(facts: Facts, matching: Sequence[Destination]) -> Reason | None:
    """Bytes that are not TLS (or not HTTP after TLS, or after a 101 upgrade that is not
    WebSocket) need an entry that allows raw TCP."""
    if any(d.raw_tcp for d in matching):
        return None
    if facts.stage is Stage.TUNNEL:
        return Reason.PROTOCOL_NOT_HTTP if facts.tunnel_tls else Reason.TUNNEL_NOT_TLS
    if facts.stage is Stage.UPGRADE:
        return Reason.PROTOCOL_NOT_HTTP
    if facts.stage is Stage.REQUEST and facts.in_tunnel and not facts.tunnel_tls:
        return Reason.TUNNEL_NOT_TLS
    return None


def _relax(mode: Mode, reason: Reason, rule: Destination | None, host: str) -> Decision:
    """A block under `rule`, or a would-block when monitor mode applies to it."""
    rule_id = rule.id if rule is not None else None
    final = rule.final if rule is not None else False
    if mode is Mode.MONITOR and reason not in NEVER_MONITORED:
        return Decision(
            action=Action.ALLOW, reason=reason, rule_id=rule_id, host=host, would_block=True,
            final=final,
        )
    return Decision(action=Action.BLOCK, reason=reason, rule_id=rule_id, host=host, final=final)


# --- step 4: where the name leads ----------------------------------------------------------


def _unsafe_addresses(
    addresses: Sequence[IPAddress],
    port: int,
    facts: Facts,
    allow_private: Sequence[IPNetwork],
) -> Reason | None:
    """Every resolved address must be safe: one bad answer blocks the lot (rebinding)."""
    if not addresses:
        return Reason.RESOLUTION_FAILED
    for address in addresses:
        reason = _unsafe_address(address, port, facts.listen_addresses, allow_private)
        if reason is not None:
            return reason
    return None


def _unsafe_address(
    address: IPAddress,
    port: int,
    listen_addresses: Iterable[tuple[IPAddress, int]],
    allow_private: Sequence[IPNetwork],
) -> Reason | None:
    address_class = classify_address(address)
    if _is_own_listener(address, port, address_class, listen_addresses):
        return Reason.PROXY_LOOP
    if address_class is AddressClass.METADATA:
        return Reason.METADATA_ADDRESS
    if address_class is AddressClass.PUBLIC:
        return None
    if address_class in LIFTABLE and _in_any(address, allow_private):
        return None
    return Reason.PRIVATE_ADDRESS


def _is_own_listener(
    address: IPAddress,
    port: int,
    address_class: AddressClass,
    listen_addresses: Iterable[tuple[IPAddress, int]],
) -> bool:
    target = effective_address(address)
    for listen_address, listen_port in listen_addresses:
        if listen_port != port:
            continue
        if listen_address in (target, address):
            return True
        # A wildcard listener answers on every local address; any non-public one may be us.
        if listen_address.is_unspecified and address_class is not AddressClass.PUBLIC:
            return True
    return False


def _in_any(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    target = effective_address(address)
    return any(
        candidate.version == network.version and candidate in network
        for network in networks
        for candidate in (address, target)
    )
