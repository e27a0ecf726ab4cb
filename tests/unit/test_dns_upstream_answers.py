"""Upstream answers dnslib parses but cannot present (red team dns2, finding 5): an HTTPS record
whose unknown SvcParam holds non-ASCII bytes is a malformed answer (SERVFAIL,
`resolution_failed`), not an internal error any zone owner could raise at will. A fake upstream
on loopback, in process."""

from __future__ import annotations

import asyncio
import struct

import dns.message
import pytest
from dnslib import QTYPE, RR, A, DNSRecord

from proxy.audit.record import DnsAuditRecord
from proxy.dns.service import DnsHooks, DnsService
from proxy.policy.loader import load_rules_text
from tests.e2e.processes import free_port


def svc_rdata(value: bytes) -> bytes:
    """HTTPS rdata: priority 1, target ".", one SvcParam of key 65000 holding `value`."""
    return struct.pack("!H", 1) + b"\x00" + struct.pack("!HH", 65000, len(value)) + value


def raw_answer(query: DNSRecord, rdata: bytes) -> bytes:
    """The reply with one HTTPS record of raw `rdata` (dnslib would not pack such a record)."""
    reply = query.reply()
    wire = bytearray(reply.pack())
    struct.pack_into("!H", wire, 6, 1)  # ancount
    owner = b"\xc0\x0c"  # the question's name
    wire += owner + struct.pack("!HHIH", QTYPE.HTTPS, 1, 0, len(rdata)) + rdata
    return bytes(wire)


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, value: bytes) -> None:
        self.value = value
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.DatagramTransport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        query = DNSRecord.parse(data)
        if query.q.qtype == QTYPE.HTTPS:
            answer = raw_answer(query, svc_rdata(self.value))
        else:
            reply = query.reply()
            reply.add_answer(RR(query.q.qname, QTYPE.A, ttl=0, rdata=A("93.184.215.14")))
            answer = reply.pack()
        assert self.transport is not None
        self.transport.sendto(answer, addr)


class Recorder:
    def __init__(self) -> None:
        self.records: list[DnsAuditRecord] = []

    def write(self, record: DnsAuditRecord) -> None:
        self.records.append(record)


async def _ask(value: bytes, name: str, rdtype: str) -> tuple[Recorder, list[tuple[str, str]],
                                                            bytes]:
    port = free_port()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Upstream(value),
                                                       local_addr=("127.0.0.1", port))
    rules = f"""\
version: 1
dns:
  upstreams: ["127.0.0.1:{port}"]
  timeout_seconds: 2
destinations:
  - host: "*.wild.example"
"""
    audit, counted = Recorder(), []
    service = DnsService(load_rules_text(rules, "<test>"), audit,  # type: ignore[arg-type]
                         hooks=DnsHooks(on_query=lambda d, r: counted.append((d, r))))
    sent: list[bytes] = []
    try:
        service.handle(dns.message.make_query(name, rdtype).to_wire(), "10.0.0.1", "udp",
                       sent.append)
        await asyncio.wait_for(service.drain(), 5)
    finally:
        transport.close()
    return audit, counted, sent[0]


@pytest.mark.parametrize("value", [bytes([0xFF, 0xFE, 0x80]), bytes(range(256))],
                         ids=["three-high-bytes", "every-byte"])
def test_an_unreadable_svcparam_is_a_failed_resolution_not_an_internal_error(
        value: bytes) -> None:
    audit, counted, wire = asyncio.run(_ask(value, "svc.wild.example", "HTTPS"))
    line = audit.records[-1]
    assert (line.reason, line.rcode, line.decision) == ("resolution_failed", "SERVFAIL",
                                                         "block")
    assert dns.message.from_wire(wire).rcode() == 2  # SERVFAIL
    assert ("block", "internal_error") not in counted


@pytest.mark.parametrize(("value", "rdtype"), [(b"ascii-data", "HTTPS"), (b"", "A")],
                         ids=["ascii-svcparam", "plain-a"])
def test_readable_answers_still_pass(value: bytes, rdtype: str) -> None:
    audit, _, _ = asyncio.run(_ask(value, "svc.wild.example", rdtype))
    line = audit.records[-1]
    assert (line.reason, line.rcode) == ("allowed", "NOERROR")
    assert line.answers and line.answers[0].split()[0] == rdtype
