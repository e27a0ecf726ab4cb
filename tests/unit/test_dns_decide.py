"""decide_dns as a table: names, modes, deny entries, record types, tunnelling facts."""

from __future__ import annotations

import pytest

from proxy.dns.decide import RCODE_NXDOMAIN, RCODE_REFUSED, DnsFacts, decide_dns
from proxy.dns.names import name_info
from proxy.policy.loader import load_rules_text

RULES = """\
version: 1
mode: {mode}
dns:
  blocked_rcode: {rcode}
  extra_types:
    - hosts: ["*.txt.example"]
      types: [TXT]
destinations:
  - id: exact
    host: api.example.com
  - id: wild
    hosts: ["*.cdn.example"]
  - id: txt
    hosts: ["*.txt.example"]
  - id: deny-all
    action: deny
    host: bad.cdn.example
  - id: deny-port
    action: deny
    host: api.example.com
    ports: [25]
  - id: deny-path
    action: deny
    host: x.cdn.example
    paths: [/admin]
  - id: watched
    host: watched.example
    mode: monitor
  - id: deny-watched
    action: deny
    host: named.example
    mode: monitor
  - id: ip
    cidrs: [192.0.2.0/24]
"""


def policy(mode: str = "enforce", rcode: str = "nxdomain"):  # type: ignore[no-untyped-def]
    return load_rules_text(RULES.format(mode=mode, rcode=rcode), "<test>")


def host(name: str) -> str | None:
    labels = tuple(label.encode() for label in name.rstrip(".").split("."))
    return name_info(labels).host


CASES = [
    # (case, name, qtype, action, reason, rule, forward)
    ("exact", "api.example.com", 1, "allow", "allowed", "exact", True),
    ("exact-case-dot", "API.Example.COM.", 28, "allow", "allowed", "exact", True),
    ("exact-sub-is-not-exact", "x.api.example.com", 1, "block", "host_not_allowed", None, False),
    ("suffix-of-exact", "example.com", 1, "block", "host_not_allowed", None, False),
    ("wildcard", "a.b.cdn.example", 1, "allow", "allowed", "wild", True),
    ("wildcard-apex", "cdn.example", 1, "block", "host_not_allowed", None, False),
    ("lookalike", "cdn.example.evil", 1, "block", "host_not_allowed", None, False),
    ("lookalike-prefix", "xcdn.example", 1, "block", "host_not_allowed", None, False),
    ("deny-wins", "bad.cdn.example", 1, "block", "denied_by_rule", "deny-all", False),
    ("deny-port-leaves-name", "api.example.com", 65, "allow", "allowed", "exact", True),
    ("deny-path-leaves-name", "x.cdn.example", 1, "allow", "allowed", "wild", True),
    ("txt-refused", "api.example.com", 16, "block", "dns_type_not_allowed", "exact", False),
    ("null-refused", "a.cdn.example", 10, "block", "dns_type_not_allowed", "wild", False),
    ("any-refused", "a.cdn.example", 255, "block", "dns_type_not_allowed", "wild", False),
    ("txt-extra", "k.txt.example", 16, "allow", "allowed", "txt", True),
    ("mx-not-extra", "k.txt.example", 15, "block", "dns_type_not_allowed", "txt", False),
    ("monitor-entry", "watched.example", 1, "allow", "allowed", "watched", True),
    ("ip-literal-name", "192.0.2.1", 1, "block", "invalid_host", None, False),
    ("numeric-name", "2130706433", 1, "block", "invalid_host", None, False),
]


@pytest.mark.parametrize(("case", "name", "qtype", "action", "reason", "rule", "forward"), CASES,
                         ids=[c[0] for c in CASES])
def test_decide_dns(case: str, name: str, qtype: int, action: str, reason: str,
                    rule: str | None, forward: bool) -> None:
    decision = decide_dns(DnsFacts(host=host(name), qtype=qtype), policy())
    assert (decision.action.value, decision.reason.value, decision.rule_id, decision.forward) == (
        action, reason, rule, forward)


def test_blocked_names_get_the_configured_rcode_and_types_get_refused() -> None:
    assert decide_dns(DnsFacts(host="no.example", qtype=1), policy()).rcode == RCODE_NXDOMAIN
    refused = policy(rcode="refused")
    assert decide_dns(DnsFacts(host="no.example", qtype=1), refused).rcode == RCODE_REFUSED
    assert decide_dns(DnsFacts(host="api.example.com", qtype=16), policy()).rcode == (
        RCODE_REFUSED)


def test_monitor_mode_answers_unnamed_names_locally_but_never_forwards_them() -> None:
    decision = decide_dns(DnsFacts(host="unnamed.example", qtype=1), policy("monitor"))
    assert decision.would_block and decision.answer and not decision.forward
    assert decision.reason.value == "host_not_allowed"


def test_a_monitored_deny_is_forwarded_as_would_block() -> None:
    decision = decide_dns(DnsFacts(host="named.example", qtype=1), policy())
    assert decision.would_block and decision.forward and decision.rule_id == "deny-watched"


def test_monitor_mode_never_relaxes_types_or_tunnelling() -> None:
    monitor = policy("monitor")
    txt = decide_dns(DnsFacts(host="unnamed.example", qtype=16), monitor)
    assert txt.reason.value == "dns_type_not_allowed" and not txt.allowed
    tunnel = decide_dns(DnsFacts(host="a.cdn.example", qtype=1, signals=("hex_label",)), monitor)
    assert tunnel.reason.value == "dns_tunnelling" and not tunnel.allowed


@pytest.mark.parametrize(("signals", "blocked"), [((), True), (("unique_subdomains",), False),
                                                  (("hex_label",), True)])
def test_tunnelling_blocks_even_allowed_names(signals: tuple[str, ...], blocked: bool) -> None:
    decision = decide_dns(DnsFacts(host="a.cdn.example", qtype=1, signals=signals,
                                   client_blocked=blocked), policy())
    assert decision.reason.value == "dns_tunnelling" and not decision.forward


@pytest.mark.parametrize("mode", ["enforce", "monitor"])
def test_a_domain_blocked_for_every_client_is_refused_in_any_mode(mode: str) -> None:
    decision = decide_dns(DnsFacts(host="a.cdn.example", qtype=1, key_blocked=True),
                          policy(mode))
    assert (decision.reason.value, decision.allowed, decision.forward, decision.answer) == (
        "dns_domain_blocked", False, False, False)
    own = decide_dns(DnsFacts(host="a.cdn.example", qtype=1, key_blocked=True,
                              client_blocked=True), policy(mode))
    assert own.reason.value == "dns_tunnelling"  # the client's own detection says more


@pytest.mark.parametrize("mode", ["enforce", "monitor"])
def test_a_credential_in_the_name_refuses_it_in_any_mode(mode: str) -> None:
    decision = decide_dns(DnsFacts(host="a.cdn.example", qtype=1, secret=True), policy(mode))
    assert (decision.reason.value, decision.allowed, decision.forward, decision.answer) == (
        "secret_detected", False, False, False)
    assert decide_dns(DnsFacts(host="a.cdn.example", qtype=1), policy(mode)).forward


def test_alert_action_lets_a_detection_through() -> None:
    text = RULES.format(mode="enforce", rcode="nxdomain").replace(
        "dns:\n", "dns:\n  tunnelling:\n    action: alert\n")
    alert = load_rules_text(text, "<test>")
    decision = decide_dns(DnsFacts(host="a.cdn.example", qtype=1, signals=("hex_label",)), alert)
    assert decision.allowed and decision.forward


NAMES = [
    # (case, labels, host)
    ("plain", (b"a", b"example"), "a.example"),
    ("upper", (b"A", b"EXAMPLE"), "a.example"),
    ("dot-inside-label", (b"a.example",), None),
    ("space", (b"a b", b"example"), None),
    ("non-ascii-byte", (b"\xc3\xbc", b"example"), None),
    ("nul", (b"a\x00", b"example"), None),
    ("punycode", (b"xn--bcher-kva", b"example"), "xn--bcher-kva.example"),
    ("leading-hyphen", (b"-a", b"example"), None),
    ("root", (), None),
]


@pytest.mark.parametrize(("case", "labels", "expected"), NAMES, ids=[n[0] for n in NAMES])
def test_labels_to_host(case: str, labels: tuple[bytes, ...], expected: str | None) -> None:
    assert name_info(labels).host == expected


def test_registered_domain_and_presentation() -> None:
    info = name_info((b"a", b"b", b"Attacker", b"co", b"uk"))
    assert (info.domain, info.subdomain) == ("attacker.co.uk", "a.b")
    assert name_info((b"a.b", b"x\x00", b"example")).display == "a\\.b.x\\000.example."
