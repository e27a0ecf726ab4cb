"""`decide_dns(facts, policy) -> DnsDecision`: whether a question may be answered, and how.

Pure: no I/O, no clock. The same rule file as the proxy decides, read for names:
1. a question whose name is not a host name is refused (never matched, never forwarded);
2. tunnelling: a client blocked for the domain, a domain blocked for every client (all clients'
   traffic to it looked like a tunnel), or a query that looks like a payload (when the rules
   say `action: block`), is refused — never relaxed by monitor mode; and so is a name
   whose own labels hold a credential (`<key>.allowed-wildcard.example`): forwarding it would
   send the key to every resolver on the way, as the proxy refuses that name before resolving;
3. the allowlist: a name is allowed when an allow entry's host pattern matches it and no deny
   entry that shuts the whole host does. Ports, schemes, methods and paths do not exist in DNS;
4. the record type must be one the rules serve for that name — never relaxed by monitor mode.

Forwarding a name to an upstream resolver discloses it, so only names some rule names are ever
forwarded. Monitor mode answers a name no rule names from `network.hosts` only.
"""

from __future__ import annotations

from dataclasses import dataclass

from proxy.policy.dns_model import BlockedRcode, TunnelAction
from proxy.policy.model import DEFAULT_SCHEMES, Destination, Effect, Mode, Policy
from proxy.policy.reasons import Action, Reason

RCODE_NXDOMAIN = 3
RCODE_REFUSED = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class DnsFacts:
    host: str | None  # normalised name, None when the question's name is not a host name
    qtype: int
    signals: tuple[str, ...] = ()  # tunnelling signals of this query and of the client's window
    client_blocked: bool = False  # an earlier detection blocks this client for this domain
    key_blocked: bool = False  # all clients' traffic to the domain tripped: blocked for everyone
    secret: bool = False  # a credential detector finds a value in the labels the client chose


@dataclass(frozen=True, slots=True, kw_only=True)
class DnsDecision:
    action: Action
    reason: Reason
    rule_id: str | None = None
    would_block: bool = False
    answer: bool = False  # may be answered from network.hosts or the cache
    forward: bool = False  # may be sent to an upstream resolver
    rcode: int = RCODE_NXDOMAIN  # the answer when it is not answered

    @property
    def allowed(self) -> bool:
        return self.action is Action.ALLOW


def decide_dns(facts: DnsFacts, policy: Policy) -> DnsDecision:
    dns = policy.dns
    blocked_rcode = RCODE_NXDOMAIN if dns.blocked_rcode is BlockedRcode.NXDOMAIN else (
        RCODE_REFUSED)
    if facts.host is None:
        return _block(Reason.INVALID_HOST, blocked_rcode)
    if facts.client_blocked or (facts.signals and dns.tunnelling.action is TunnelAction.BLOCK):
        return _block(Reason.DNS_TUNNELLING, blocked_rcode)
    if facts.key_blocked:
        return _block(Reason.DNS_DOMAIN_BLOCKED, blocked_rcode)
    if facts.secret:
        return _block(Reason.SECRET_DETECTED, blocked_rcode)

    host = facts.host
    candidates = [d for d in policy.destinations if d.hosts and d.matches_host(host)]
    deny = next((d for d in candidates if d.effect is Effect.DENY and _shuts_host(d)), None)
    allow = next((d for d in candidates if d.effect is Effect.ALLOW), None)
    if deny is not None:
        # A monitored deny is named by the rule owner: answering it discloses nothing new.
        decision = _relaxed(deny.mode, Reason.DENIED_BY_RULE, deny, blocked_rcode, forward=True)
    elif allow is None:
        decision = _relaxed(policy.mode, Reason.HOST_NOT_ALLOWED, None, blocked_rcode,
                            forward=False)
    else:
        decision = DnsDecision(action=Action.ALLOW, reason=Reason.ALLOWED, rule_id=allow.id,
                               answer=True, forward=True)
    if not decision.answer:
        return decision
    if facts.qtype not in dns.types_for(host):
        return _block(Reason.DNS_TYPE_NOT_ALLOWED, RCODE_REFUSED, decision.rule_id)
    return decision


def _shuts_host(deny: Destination) -> bool:
    """A deny entry that refuses every connection to its hosts, so the name is of no use.

    A deny limited to some ports, schemes, methods or paths leaves the rest of the host to an
    allow entry, which needs the name resolved.
    """
    return (deny.ports is None and deny.methods is None and deny.paths is None
            and deny.schemes >= DEFAULT_SCHEMES)


def _relaxed(mode: Mode, reason: Reason, rule: Destination | None, rcode: int, *,
             forward: bool) -> DnsDecision:
    rule_id = rule.id if rule is not None else None
    if mode is Mode.MONITOR:
        return DnsDecision(action=Action.ALLOW, reason=reason, rule_id=rule_id, would_block=True,
                           answer=True, forward=forward, rcode=rcode)
    return DnsDecision(action=Action.BLOCK, reason=reason, rule_id=rule_id, rcode=rcode)


def _block(reason: Reason, rcode: int, rule_id: str | None = None) -> DnsDecision:
    return DnsDecision(action=Action.BLOCK, reason=reason, rule_id=rule_id, rcode=rcode)
