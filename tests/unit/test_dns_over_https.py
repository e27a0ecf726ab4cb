"""DNS queries sent as HTTP requests are told from ordinary requests (RFC 8484, JSON APIs)."""

from __future__ import annotations

import base64

import dns.message
import pytest

from proxy.policy.dns_over_https import is_dns_over_https

QUERY = base64.urlsafe_b64encode(
    dns.message.make_query("6b65792d70617274.attacker.example", "A").to_wire()).decode().rstrip("=")

DOH = {
    "POST of a DNS message": ("/dns-query", [("Content-Type", "application/dns-message")], []),
    "the old media type": ("/q", [("content-type", "application/dns-udpwireformat; x=1")], []),
    "GET with ?dns=": ("/dns-query", [], [("dns", QUERY)]),
    "GET with ?dns= on any path": ("/any/where", [], [("ct", "x"), ("dns", QUERY)]),
    "a DNS message asked for": ("/x", [("Accept", "application/dns-message")], []),
    "JSON API, Google's path": ("/resolve", [], [("name", "a.attacker.example"), ("type", "A")]),
    "JSON API, Cloudflare's path": ("/dns-query/", [], [("name", "a.example")]),
    "JSON asked for": ("/anything", [("Accept", "application/dns-json")], []),
}

NOT_DOH = {
    "a JSON request": ("/v1/messages", [("Content-Type", "application/json")], []),
    "a dns parameter that is no DNS message": ("/search", [], [("dns", "hello-world")]),
    "a name parameter elsewhere": ("/api/users", [], [("name", "alice")]),
    "a resolver's path without a name": ("/resolve", [], [("id", "3")]),
    "a header that only mentions dns": ("/x", [("X-Dns", "application/dns-message")], []),
}


@pytest.mark.parametrize(("path", "headers", "query"), DOH.values(), ids=DOH.keys())
def test_dns_queries_over_http_are_recognised(path: str, headers: list[tuple[str, str]],
                                              query: list[tuple[str, str]]) -> None:
    assert is_dns_over_https(path, headers, query)


@pytest.mark.parametrize(("path", "headers", "query"), NOT_DOH.values(), ids=NOT_DOH.keys())
def test_ordinary_requests_are_not_dns_queries(path: str, headers: list[tuple[str, str]],
                                               query: list[tuple[str, str]]) -> None:
    assert not is_dns_over_https(path, headers, query)
