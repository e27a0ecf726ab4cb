"""DNS queries sent as HTTP requests are told from ordinary requests (RFC 8484, JSON APIs)."""

from __future__ import annotations

import base64
import random

import dns.message
import pytest

from proxy.policy.dns_over_https import is_dns_over_https, is_dns_query_message

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


def _query(name: str, *, edns: bool = False) -> bytes:
    return dns.message.make_query(name, "A", use_edns=0 if edns else None).to_wire()


@pytest.mark.parametrize("message", [
    _query("a.example"), _query("6b65792d70617274.attacker.example", edns=True),
    _query("x" * 63 + ".example"),
], ids=["plain", "with an OPT record", "a long label"])
def test_a_body_that_is_a_dns_query_is_one(message: bytes) -> None:
    assert is_dns_query_message(message)


NOT_QUERIES = {
    "a response": dns.message.make_response(dns.message.make_query("a.example", "A")).to_wire(),
    "a query with a byte more": _query("a.example") + b"\x00",
    "a query cut short": _query("a.example")[:-2],
    "two questions": _query("a.example")[:4] + b"\x00\x02" + _query("a.example")[6:],
    "the root alone": _query("."),
    "text": b'{"messages": [{"role": "user", "content": "hello"}]}',
    "empty": b"",
}


@pytest.mark.parametrize("data", NOT_QUERIES.values(), ids=NOT_QUERIES.keys())
def test_other_bodies_are_not_dns_queries(data: bytes) -> None:
    assert not is_dns_query_message(data)


def test_random_bytes_are_not_dns_queries() -> None:
    rng = random.Random(5)
    assert not any(is_dns_query_message(rng.randbytes(rng.randrange(12, 300)))
                   for _ in range(20_000))
