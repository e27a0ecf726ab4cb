"""Requests that are DNS queries: DNS over HTTPS (RFC 8484) and the JSON APIs resolvers offer.

Through the proxy, an allowed host that answers DNS over HTTPS is a resolver the DNS server never
sees: names it refuses and payloads its tunnel checks would stop (`<hex>.attacker.example`) go
out as HTTPS requests. So such requests are refused (`dns_over_https`), whichever host serves
them; sandboxes resolve through Glassbreak's DNS server. A body that is exactly a DNS query
message is one too, whatever its Content-Type says (`is_dns_query_message`).
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Iterable

_WIRE_TYPES = ("application/dns-message", "application/dns-udpwireformat")
_JSON_TYPE = "application/dns-json"
_JSON_PATHS = ("/resolve", "/dns-query")  # Google's and Cloudflare's JSON endpoints
_DNS_HEADER_BYTES = 12
_MAX_MESSAGE_BYTES = 65535


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


def is_dns_query_message(data: bytes | None) -> bool:
    """Whether `data` is exactly a DNS query message (RFC 1035 §4.1): a header with one
    question and no answers, the question's labels (no compression pointers), its type and
    class, and at most one OPT record after it. A body that is one is DNS over HTTPS whatever
    its Content-Type says: a resolver may not look at it."""
    if data is None or not _DNS_HEADER_BYTES + 5 <= len(data) <= _MAX_MESSAGE_BYTES:
        return False
    flags, questions, answers, authority, additional = struct.unpack_from(">HHHHH", data, 2)
    if flags & 0x8000 or (flags >> 11) & 0xF or questions != 1 or answers or authority \
            or additional > 1:
        return False  # a response, another opcode, or not a lone question
    offset = _end_of_name(data, _DNS_HEADER_BYTES)
    if offset is None or offset + 4 > len(data):
        return False
    offset += 4  # type and class
    if additional:  # an OPT record: root name, type 41, class, TTL, data length and data
        if data[offset:offset + 3] != b"\x00\x00\x29" or offset + 11 > len(data):
            return False
        offset += 11 + int.from_bytes(data[offset + 9:offset + 11], "big")
    return offset == len(data)


def _end_of_name(data: bytes, offset: int) -> int | None:
    """Where the uncompressed name at `offset` ends, or None when there is none."""
    length = 0
    while offset < len(data):
        label = data[offset]
        if label == 0:
            return offset + 1 if length else None  # the root alone asks for nothing
        if label > 63:
            return None
        length += label + 1
        offset += label + 1
        if length > 255:
            return None
    return None


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
