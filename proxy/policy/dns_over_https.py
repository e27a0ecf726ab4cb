"""Requests that are DNS queries: DNS over HTTPS (RFC 8484) and the JSON APIs resolvers offer.

Through the proxy, an allowed host that answers DNS over HTTPS is a resolver the DNS server never
sees: names it refuses and payloads its tunnel checks would stop (`<hex>.attacker.example`) go
out as HTTPS requests. So such requests are refused (`dns_over_https`), whichever host serves
them; sandboxes resolve through Glassbreak's DNS server.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable

_WIRE_TYPES = ("application/dns-message", "application/dns-udpwireformat")
_JSON_TYPE = "application/dns-json"
_JSON_PATHS = ("/resolve", "/dns-query")  # Google's and Cloudflare's JSON endpoints
_DNS_HEADER_BYTES = 12


def is_dns_over_https(path: str, headers: Iterable[tuple[str, str]],
                      query: Iterable[tuple[str, str]]) -> bool:
    """Whether a request is a DNS query: a DNS message as its body (`Content-Type`), asked for
    as the answer (`Accept`), or as its `dns` parameter (GET, base64url), or a JSON API query
    (`?name=` on a resolver's path, or `Accept: application/dns-json`)."""
    for name, value in headers:
        lowered = name.lower()
        if lowered == "content-type" and _media_type(value) in _WIRE_TYPES:
            return True
        if lowered == "accept" and any(kind in value.lower()
                                       for kind in (*_WIRE_TYPES, _JSON_TYPE)):
            return True
    names: dict[str, str] = {}
    for key, value in query:
        names.setdefault(key, value)
    if "dns" in names and _is_dns_message(names["dns"]):
        return True
    route = path.split("?", 1)[0].rstrip("/").lower()
    return "name" in names and route.endswith(_JSON_PATHS)


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def _is_dns_message(value: str) -> bool:
    """Whether `value` is base64url (unpadded, RFC 8484 §4.1) of a DNS query: a 12-byte header
    with one question or more."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return False
    return len(raw) > _DNS_HEADER_BYTES and int.from_bytes(raw[4:6], "big") >= 1
