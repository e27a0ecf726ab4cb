"""`decide` as a table: facts in, exact reason out, including the near misses."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import ip_address

import pytest

from proxy.policy.decide import decide
from proxy.policy.decision import Facts, Stage
from proxy.policy.loader import load_rules_text
from proxy.policy.model import Policy
from proxy.policy.reasons import Action, Reason

RULES = """\
version: 1
network:
  allow_private: [10.1.0.0/16, "fd00:1::/64"]
destinations:
  - id: gh-gist-deny
    host: gist.github.com
    action: deny
    final: true
  - id: gh
    hosts: [github.com, "*.github.com"]
  - id: gh-api-read
    host: api.github.com
    methods: [GET, HEAD]
  - id: llm
    host: api.anthropic.com
    ports: [443]
    schemes: [https]
    methods: [POST]
    paths: [/v1/messages]
  - id: llm-delete-deny
    host: api.anthropic.com
    action: deny
    methods: [DELETE]
  - id: pypi
    hosts: [pypi.org, files.pythonhosted.org]
    ports: [443]
    inspect: false
  - id: lab
    cidrs: [10.1.2.0/24, 203.0.113.0/24, "fd00:1::/64"]
    ports: [443, 8443]
  - id: tuning
    host: tuning.example
    methods: [GET]
    mode: monitor
  - id: ssh
    host: git.example
    ports: [22]
    raw_tcp: true
"""

PUBLIC = (ip_address("140.82.112.3"),)
LISTEN = frozenset({(ip_address("127.0.0.1"), 8080)})


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_rules_text(RULES, "test.yaml")


def connect(host: str, port: int = 443, **extra: object) -> Facts:
    return Facts(stage=Stage.CONNECT, host=host, port=port, listen_addresses=LISTEN,
                 **extra)  # type: ignore[arg-type]


def request(host: str, method: str = "GET", path: str = "/", port: int = 443,
            scheme: str = "https", **extra: object) -> Facts:
    return Facts(stage=Stage.REQUEST, host=host, port=port, scheme=scheme, method=method,
                 path=path, in_tunnel=scheme == "https", tunnel_tls=scheme == "https",
                 listen_addresses=LISTEN, **extra)  # type: ignore[arg-type]


CASES: dict[str, tuple[Facts, Reason, str | None]] = {
    # Hosts: exact, wildcard, case, trailing dot, lookalikes.
    "exact host": (connect("github.com"), Reason.ALLOWED, "gh"),
    "upper case and trailing dot": (connect("GitHub.COM."), Reason.ALLOWED, "gh"),
    "wildcard subdomain": (connect("raw.github.com"), Reason.ALLOWED, "gh"),
    "wildcard deep subdomain": (connect("a.b.github.com"), Reason.ALLOWED, "gh"),
    "lookalike prefix": (connect("evilgithub.com"), Reason.HOST_NOT_ALLOWED, None),
    "lookalike suffix": (connect("github.com.evil.test"), Reason.HOST_NOT_ALLOWED, None),
    "lookalike inner label": (connect("github.comx"), Reason.HOST_NOT_ALLOWED, None),
    "unknown host": (connect("example.org"), Reason.HOST_NOT_ALLOWED, None),
    "idn lookalike": (connect("g\u0456thub.com"), Reason.HOST_NOT_ALLOWED, None),  # Cyrillic i
    "userinfo": (connect("github.com@evil.test"), Reason.INVALID_HOST, None),
    "empty host": (connect(""), Reason.INVALID_HOST, None),
    "space in host": (connect("git hub.com"), Reason.INVALID_HOST, None),
    "bad last label number": (connect("1.2.3.256"), Reason.INVALID_HOST, None),
    # Ports and schemes.
    "default ports exclude 8443": (connect("github.com", 8443), Reason.PORT_NOT_ALLOWED, "gh"),
    "port 80 default allowed": (connect("github.com", 80), Reason.ALLOWED, "gh"),
    "llm on port 80": (connect("api.anthropic.com", 80), Reason.PORT_NOT_ALLOWED, "llm"),
    "llm over http": (request("api.anthropic.com", "POST", "/v1/messages", 443, "http"),
                      Reason.SCHEME_NOT_ALLOWED, "llm"),
    # Methods and paths (more than one entry for a host: the closest explains).
    "api GET": (request("api.github.com", "GET", "/repos"), Reason.ALLOWED, "gh"),
    "llm POST path": (request("api.anthropic.com", "POST", "/v1/messages"), Reason.ALLOWED, "llm"),
    "llm POST subpath": (request("api.anthropic.com", "POST", "/v1/messages/count_tokens"),
                         Reason.ALLOWED, "llm"),
    "llm path prefix is per segment": (request("api.anthropic.com", "POST", "/v1/messagesX"),
                                       Reason.PATH_NOT_ALLOWED, "llm"),
    "llm other path": (request("api.anthropic.com", "POST", "/v1/files"),
                       Reason.PATH_NOT_ALLOWED, "llm"),
    "llm GET": (request("api.anthropic.com", "GET", "/v1/messages"),
                Reason.METHOD_NOT_ALLOWED, "llm"),
    "llm lower-case method": (request("api.anthropic.com", "post", "/v1/messages"),
                              Reason.ALLOWED, "llm"),
    "connect to llm opens the tunnel": (connect("api.anthropic.com"), Reason.ALLOWED, "llm"),
    # Deny entries win, and a deny of one method does not shut the host at CONNECT.
    "deny entry": (connect("gist.github.com"), Reason.DENIED_BY_RULE, "gh-gist-deny"),
    "deny entry per method": (request("api.anthropic.com", "DELETE", "/v1/messages"),
                              Reason.DENIED_BY_RULE, "llm-delete-deny"),
    # IP literals need a CIDR entry; the CIDR entry still needs allow_private for private space.
    "ip literal without cidr": (connect("140.82.112.3"), Reason.IP_LITERAL_NOT_ALLOWED, None),
    "ip literal decimal": (connect("2354213123"), Reason.IP_LITERAL_NOT_ALLOWED, None),
    "ip literal in cidr": (connect("203.0.113.7"), Reason.ALLOWED, "lab"),
    "ip literal in cidr hex": (connect("0xcb007107"), Reason.ALLOWED, "lab"),
    "ip literal in cidr wrong port": (connect("203.0.113.7", 22), Reason.PORT_NOT_ALLOWED, "lab"),
    "ipv6 literal in cidr": (connect("[fd00:1::5]"), Reason.ALLOWED, "lab"),
    "ipv6 literal outside": (connect("[2001:db8::1]"), Reason.IP_LITERAL_NOT_ALLOWED, None),
    # Tunnels that carry something else.
    "raw bytes in tunnel": (Facts(stage=Stage.TUNNEL, host="github.com", port=443,
                                  in_tunnel=True), Reason.TUNNEL_NOT_TLS, "gh"),
    "non-http after tls": (Facts(stage=Stage.TUNNEL, host="github.com", port=443, in_tunnel=True,
                                 tunnel_tls=True), Reason.PROTOCOL_NOT_HTTP, "gh"),
    "plain http in tunnel": (Facts(stage=Stage.REQUEST, host="github.com", port=443,
                                   scheme="http", method="GET", path="/", in_tunnel=True),
                             Reason.TUNNEL_NOT_TLS, "gh"),
    "raw tcp allowed": (Facts(stage=Stage.TUNNEL, host="git.example", port=22, in_tunnel=True),
                        Reason.ALLOWED, "ssh"),
    # An upstream's 101 to a protocol other than WebSocket: raw bytes follow.
    "upgrade after an allowed request": (replace(request("api.github.com"), stage=Stage.UPGRADE),
                                         Reason.PROTOCOL_NOT_HTTP, "gh"),
    "upgrade on plain http": (replace(request("github.com", port=80, scheme="http"),
                                      stage=Stage.UPGRADE), Reason.PROTOCOL_NOT_HTTP, "gh"),
    "upgrade where raw tcp is allowed": (
        Facts(stage=Stage.UPGRADE, host="git.example", port=22, scheme="http", method="GET",
              path="/", listen_addresses=LISTEN), Reason.ALLOWED, "ssh"),
    "upgrade of a request that is not allowed": (
        replace(request("api.anthropic.com", "GET", "/v1/messages"), stage=Stage.UPGRADE),
        Reason.METHOD_NOT_ALLOWED, "llm"),
    # Names must agree.
    "sni agrees": (connect("github.com", sni="GITHUB.com"), Reason.ALLOWED, "gh"),
    "sni fronting": (request("github.com", sni="evil.test"), Reason.SNI_MISMATCH, None),
    "host header agrees with port": (request("github.com", host_headers=("github.com:443",)),
                                     Reason.ALLOWED, "gh"),
    "host header fronting": (request("github.com", host_headers=("evil.test",)),
                             Reason.HOST_MISMATCH, None),
    "host header other port": (request("github.com", host_headers=("github.com:8443",)),
                               Reason.HOST_MISMATCH, None),
    "second host header": (request("github.com", host_headers=("github.com", "evil.test")),
                           Reason.HOST_MISMATCH, None),
    "host header garbage port": (request("github.com", host_headers=("github.com:x",)),
                                 Reason.HOST_MISMATCH, None),
    "ipv6 host header": (request("[fd00:1::5]", host_headers=("[fd00:1::5]:443",)),
                         Reason.ALLOWED, "lab"),
    # A DNS query sent over HTTPS to an allowed host: a resolver the DNS server never sees.
    "dns over https": (request("api.github.com", dns_over_https=True), Reason.DNS_OVER_HTTPS,
                       "gh"),
    "dns over https under monitor": (request("tuning.example", dns_over_https=True),
                                     Reason.DNS_OVER_HTTPS, "tuning"),
    # Framing characters (request_framing.py): refused first, in every mode, on any entry.
    "malformed": (request("api.github.com", malformed=True), Reason.REQUEST_MALFORMED, None),
    "malformed under monitor": (request("tuning.example", malformed=True),
                                Reason.REQUEST_MALFORMED, None),
    "malformed to a host no entry allows": (request("evil.example", malformed=True),
                                            Reason.REQUEST_MALFORMED, None),
    # Methods a server takes from override headers or `_method` (overrides.py): an allow entry
    # must allow each, a deny entry holds on any.
    "override to a method the entry lacks": (
        request("api.anthropic.com", "POST", "/v1/messages", override_methods=("PUT",)),
        Reason.METHOD_NOT_ALLOWED, "llm"),
    "override to a denied method": (
        request("api.anthropic.com", "POST", "/v1/messages", override_methods=("DELETE",)),
        Reason.DENIED_BY_RULE, "llm-delete-deny"),
    "one of two overrides denied": (
        request("api.anthropic.com", "POST", "/v1/messages", override_methods=("POST", "DELETE")),
        Reason.DENIED_BY_RULE, "llm-delete-deny"),
    "override to the same method": (
        request("api.anthropic.com", "POST", "/v1/messages", override_methods=("POST",)),
        Reason.ALLOWED, "llm"),
    "override where any method is allowed": (
        request("github.com", "POST", "/", override_methods=("DELETE",)), Reason.ALLOWED, "gh"),
    "url override outside the path": (
        request("api.anthropic.com", "POST", "/v1/messages", override_paths=("/v1/files",)),
        Reason.PATH_NOT_ALLOWED, "llm"),
    "url override inside the path": (
        request("api.anthropic.com", "POST", "/v1/messages",
                override_paths=("/v1/messages/count_tokens?x=1",)), Reason.ALLOWED, "llm"),
    "override under monitor": (request("tuning.example", "GET", override_methods=("POST",)),
                               Reason.METHOD_NOT_ALLOWED, "tuning"),
    # Monitor mode relaxes the allowlist only.
    "monitor would-block": (request("tuning.example", "POST"), Reason.METHOD_NOT_ALLOWED,
                            "tuning"),
}


@pytest.mark.parametrize(("facts", "reason", "rule"), CASES.values(), ids=CASES.keys())
def test_decide_reason(policy: Policy, facts: Facts, reason: Reason, rule: str | None) -> None:
    decision = decide(facts, policy)
    assert decision.reason is reason
    assert decision.rule_id == rule
    if reason is Reason.ALLOWED:
        assert decision.action is Action.ALLOW and not decision.would_block
    elif decision.would_block:
        assert decision.action is Action.ALLOW
    else:
        assert decision.action is Action.BLOCK


ADDRESS_CASES: dict[str, tuple[str, tuple[str, ...], Reason]] = {
    "public": ("github.com", ("140.82.112.3",), Reason.ALLOWED),
    "no answers": ("github.com", (), Reason.RESOLUTION_FAILED),
    "loopback": ("github.com", ("127.0.0.1",), Reason.PRIVATE_ADDRESS),
    "rfc1918": ("github.com", ("10.0.0.1",), Reason.PRIVATE_ADDRESS),
    "rfc1918 lifted": ("github.com", ("10.1.9.9",), Reason.ALLOWED),
    "rfc1918 mapped lifted": ("github.com", ("::ffff:10.1.9.9",), Reason.ALLOWED),
    "one bad answer blocks": ("github.com", ("140.82.112.3", "192.168.1.1"),
                              Reason.PRIVATE_ADDRESS),
    "metadata": ("github.com", ("169.254.169.254",), Reason.METADATA_ADDRESS),
    "metadata mapped": ("github.com", ("::ffff:169.254.169.254",), Reason.METADATA_ADDRESS),
    "metadata v6": ("github.com", ("fd00:ec2::254",), Reason.METADATA_ADDRESS),
    "nat64 loopback": ("github.com", ("64:ff9b::7f00:1",), Reason.PRIVATE_ADDRESS),
    "cgnat": ("github.com", ("100.64.0.1",), Reason.PRIVATE_ADDRESS),
    "unspecified": ("github.com", ("0.0.0.0",), Reason.PRIVATE_ADDRESS),
    "loopback, not the proxy's port": ("github.com", ("127.0.0.1",), Reason.PRIVATE_ADDRESS),
    "ula lifted": ("github.com", ("fd00:1::9",), Reason.ALLOWED),
    "cidr literal in lifted private space": ("10.1.2.3", ("10.1.2.3",), Reason.ALLOWED),
}


@pytest.mark.parametrize(("host", "addresses", "reason"), ADDRESS_CASES.values(),
                         ids=ADDRESS_CASES.keys())
def test_decide_addresses(policy: Policy, host: str, addresses: tuple[str, ...],
                          reason: Reason) -> None:
    facts = connect(host, addresses=tuple(ip_address(a) for a in addresses))
    assert decide(facts, policy).reason is reason


def test_proxy_loop_needs_the_listening_port(policy: Policy) -> None:
    loopback_policy = replace(policy, network=replace(
        policy.network, allow_private=(*policy.network.allow_private,
                                       *load_rules_text(
                                           "version: 1\nnetwork:\n  allow_private: [127.0.0.0/8]\n",
                                           "x").network.allow_private)))
    facts = connect("github.com", 80, addresses=(ip_address("127.0.0.1"),))
    assert decide(facts, loopback_policy).reason is Reason.ALLOWED
    looped = replace(facts, listen_addresses=frozenset({(ip_address("127.0.0.1"), 80)}))
    assert decide(looped, loopback_policy).reason is Reason.PROXY_LOOP
    wildcard = replace(facts, listen_addresses=frozenset({(ip_address("0.0.0.0"), 80)}))
    assert decide(wildcard, loopback_policy).reason is Reason.PROXY_LOOP


def test_monitor_never_relaxes_network_safety(policy: Policy) -> None:
    facts = request("tuning.example", "POST", addresses=(ip_address("169.254.169.254"),))
    decision = decide(facts, policy)
    assert decision.action is Action.BLOCK and decision.reason is Reason.METADATA_ADDRESS


def test_monitor_file_mode_relaxes_host_misses() -> None:
    monitor = load_rules_text("version: 1\nmode: monitor\n", "monitor.yaml")
    decision = decide(connect("anything.example"), monitor)
    assert decision.would_block and decision.action is Action.ALLOW
    assert decision.reason is Reason.HOST_NOT_ALLOWED
    fronted = decide(request("a.example", host_headers=("b.example",)), monitor)
    assert fronted.action is Action.BLOCK and fronted.reason is Reason.HOST_MISMATCH


def test_empty_policy_denies_everything() -> None:
    empty = load_rules_text("version: 1\n", "empty.yaml")
    for host in ("github.com", "localhost", "127.0.0.1", "[::1]"):
        assert decide(connect(host), empty).action is Action.BLOCK


def test_inspect_is_true_unless_every_matching_entry_passes_through(policy: Policy) -> None:
    assert decide(connect("pypi.org"), policy).inspect is False
    assert decide(connect("github.com"), policy).inspect is True


def test_final_rule_marks_the_decision(policy: Policy) -> None:
    assert decide(connect("gist.github.com"), policy).final is True
    assert decide(connect("example.org"), policy).final is False


PATH_RULES = """\
version: 1
destinations:
  - id: deny-admin
    host: app.example
    action: deny
    paths: [/admin]
  - id: app
    host: app.example
  - id: llm
    host: llm.example
    methods: [POST]
    paths: [/v1/messages]
"""

PATH_BYPASSES = {
    "deny plain": ("app.example", "GET", "/admin", Reason.DENIED_BY_RULE),
    "deny subpath": ("app.example", "GET", "/admin/users", Reason.DENIED_BY_RULE),
    "deny upper case": ("app.example", "GET", "/ADMIN", Reason.DENIED_BY_RULE),
    "deny encoded letter": ("app.example", "GET", "/%61dmin", Reason.DENIED_BY_RULE),
    "deny double slash": ("app.example", "GET", "//admin", Reason.DENIED_BY_RULE),
    "deny dot segments": ("app.example", "GET", "/x/../admin", Reason.DENIED_BY_RULE),
    "deny encoded dots": ("app.example", "GET", "/x/%2e%2e/admin", Reason.DENIED_BY_RULE),
    "deny encoded slash": ("app.example", "GET", "/%2Fadmin", Reason.DENIED_BY_RULE),
    "deny tomcat params": ("app.example", "GET", "/admin;x=1", Reason.DENIED_BY_RULE),
    "deny near miss allowed": ("app.example", "GET", "/administrator", Reason.ALLOWED),
    "allow plain": ("llm.example", "POST", "/v1/messages", Reason.ALLOWED),
    "allow dot escape": ("llm.example", "POST", "/v1/messages/../../admin",
                         Reason.PATH_NOT_ALLOWED),
    "allow encoded dot escape": ("llm.example", "POST", "/v1/messages/%2e%2e/%2e%2e/admin",
                                 Reason.PATH_NOT_ALLOWED),
    "allow encoded slash escape": ("llm.example", "POST", "/v1/messages%2f..%2f..%2fadmin",
                                   Reason.PATH_NOT_ALLOWED),
    "allow backslash escape": ("llm.example", "POST", "/v1/messages\\..\\..\\admin",
                               Reason.PATH_NOT_ALLOWED),
    "allow tomcat escape": ("llm.example", "POST", "/v1/messages/..;/..;/admin",
                            Reason.PATH_NOT_ALLOWED),
    "allow dot inside prefix": ("llm.example", "POST", "/v1/./messages", Reason.ALLOWED),
}


URL_OVERRIDES = {
    "deny by x-original-url": ("app.example", "/ok", "/admin", Reason.DENIED_BY_RULE),
    "deny by a url override's widest reading": ("app.example", "/ok", "/x/%2e%2e/ADMIN;a/u",
                                                Reason.DENIED_BY_RULE),
    "deny near miss": ("app.example", "/ok", "/administrator", Reason.ALLOWED),
    "allow escapes by a url override": ("llm.example", "/v1/messages",
                                        "/v1/messages/../../admin", Reason.PATH_NOT_ALLOWED),
    "allow with a relative url override": ("llm.example", "/v1/messages", "admin",
                                           Reason.PATH_NOT_ALLOWED),
    "allow inside": ("llm.example", "/v1/messages", "/v1/messages/batch", Reason.ALLOWED),
}


@pytest.mark.parametrize(("host", "path", "override", "reason"), URL_OVERRIDES.values(),
                         ids=URL_OVERRIDES.keys())
def test_url_overrides_are_paths_too(host: str, path: str, override: str,
                                     reason: Reason) -> None:
    path_policy = load_rules_text(PATH_RULES, "paths.yaml")
    facts = request(host, "POST", path, override_paths=(override,))
    assert decide(facts, path_policy).reason is reason


@pytest.mark.parametrize(("host", "method", "path", "reason"), PATH_BYPASSES.values(),
                         ids=PATH_BYPASSES.keys())
def test_path_rules_hold_against_path_tricks(host: str, method: str, path: str,
                                             reason: Reason) -> None:
    path_policy = load_rules_text(PATH_RULES, "paths.yaml")
    assert decide(request(host, method, path), path_policy).reason is reason
