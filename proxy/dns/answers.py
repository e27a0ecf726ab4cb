"""Answer records: from `network.hosts`, checked for rebinding, packed for the wire (by dnslib).

Rebinding: a public name whose answer carries a private, loopback, metadata... address would let a
sandbox reach what the proxy refuses to dial. Such an answer is dropped whole (one bad address
blocks the lot, as in the proxy), unless `network.allow_private` opens the address, and never for
metadata addresses. SVCB/HTTPS address hints are checked like A/AAAA records.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address

from dnslib import AAAA, QTYPE, RR, A, DNSBuffer, DNSLabel, DNSQuestion, DNSRecord
from dnslib import HTTPS as HTTPSRecord

from proxy.netsafety.addresses import LIFTABLE, AddressClass, classify_address, effective_address
from proxy.policy.model import IPAddress, IPNetwork
from proxy.policy.reasons import Reason

QTYPE_A, QTYPE_CNAME, QTYPE_AAAA, QTYPE_SVCB, QTYPE_HTTPS = 1, 5, 28, 64, 65
STATIC_TTL = 60
MAX_LOGGED_ANSWERS = 16
_SVC_IPV4HINT, _SVC_IPV6HINT = 4, 6


def static_records(name: str, qtype: int, addresses: Sequence[IPAddress]) -> list[RR]:
    """A/AAAA records for a `network.hosts` name; other types get an empty (NODATA) answer."""
    if qtype == QTYPE_A:
        return [RR(name, QTYPE_A, ttl=STATIC_TTL, rdata=A(str(a)))
                for a in addresses if a.version == 4]
    if qtype == QTYPE_AAAA:
        return [RR(name, QTYPE_AAAA, ttl=STATIC_TTL, rdata=AAAA(str(a)))
                for a in addresses if a.version == 6]
    return []


def pack_records(name: str, qtype: int, records: Sequence[RR]) -> bytes:
    """The answer section packed behind a question for `name`, compressed against it.

    The client's own question has the same length (only letter case can differ), so the
    compression pointers stay valid behind it.
    """
    if not records:
        return b""
    question = DNSQuestion(name, qtype)
    buffer = DNSBuffer()
    buffer.append(b"\x00" * 12)
    question.pack(buffer)
    start = buffer.offset
    for record in records:
        record.pack(buffer)
    return bytes(buffer.data[start:])


def record_addresses(record: RR) -> list[IPAddress]:
    """The addresses an answer record leads to: A/AAAA data, SVCB/HTTPS hints."""
    if record.rtype in (QTYPE_A, QTYPE_AAAA):
        return [ip_address(str(record.rdata))]
    if record.rtype in (QTYPE_SVCB, QTYPE_HTTPS):
        return _svc_hints(record)
    return []


def _svc_hints(record: RR) -> list[IPAddress]:
    rdata = record.rdata
    if not isinstance(rdata, HTTPSRecord):  # SVCB: dnslib keeps the raw bytes
        raw = bytes(rdata.data)
        rdata = HTTPSRecord.parse(DNSBuffer(raw), len(raw))
    found: list[IPAddress] = []
    for key, value in rdata.params:
        data = bytes(value)
        if key == _SVC_IPV4HINT:
            found += [IPv4Address(data[i:i + 4]) for i in range(0, len(data) - 3, 4)]
        elif key == _SVC_IPV6HINT:
            found += [IPv6Address(data[i:i + 16]) for i in range(0, len(data) - 15, 16)]
    return found


def unsafe_answer(records: Sequence[RR], allow_private: Sequence[IPNetwork]) -> Reason | None:
    """The reason to drop an upstream answer, or None when every address in it is safe."""
    for record in records:
        for address in record_addresses(record):
            address_class = classify_address(address)
            if address_class is AddressClass.METADATA:
                return Reason.METADATA_ADDRESS
            if address_class is AddressClass.PUBLIC:
                continue
            if address_class in LIFTABLE and _in_any(address, allow_private):
                continue
            return Reason.PRIVATE_ADDRESS
    return None


def _in_any(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    target = effective_address(address)
    return any(candidate.version == network.version and candidate in network
               for network in networks for candidate in (address, target))


def answer_records(response: DNSRecord, name: str, qtype: int) -> list[RR]:
    """The answer section of an upstream response, owner names and types checked.

    Records must belong to the question's name or to the CNAME chain that starts there; anything
    else (cache-poisoning "bonus" records) is left out. Only records of the type asked for and
    the chain's CNAMEs are kept: a TXT or NULL record slipped into an A answer is a channel the
    rules did not open (`record_types`). The authority and additional sections are never passed.
    """
    owners = {DNSLabel(name)}
    kept: list[RR] = []
    for record in response.rr:
        if record.rname not in owners or record.rtype not in (qtype, QTYPE_CNAME):
            continue
        kept.append(record)
        if record.rtype == QTYPE_CNAME:
            owners.add(record.rdata.label)
    return kept


def describe(records: Sequence[RR]) -> list[str]:
    """Answers for the audit line: "A 192.0.2.1", "CNAME cdn.example.net."."""
    return [f"{QTYPE.get(record.rtype)} {str(record.rdata)[:200]}"
            for record in records[:MAX_LOGGED_ANSWERS]]
