"""The packet path against hostile input: FORMERR or nothing, never an exception, and the service
keeps answering afterwards (hypothesis drives random and mutated packets)."""

from __future__ import annotations

import struct

import dns.message
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.dns.service import DnsService
from proxy.dns.wire import FORMERR, NOTIMP, WireError, parse_query
from proxy.policy.loader import load_rules_text

RULES = """\
version: 1
network:
  hosts:
    ok.example: [192.0.2.1]
dns:
  client_qps: 1000000
  client_burst: 1000000
destinations:
  - host: ok.example
"""
VALID = dns.message.make_query("ok.example", "A").to_wire()
VALID_EDNS = dns.message.make_query("ok.example", "A", use_edns=0).to_wire()


def service() -> DnsService:
    return DnsService(load_rules_text(RULES, "<test>"), None)


def answer(svc: DnsService, packet: bytes) -> list[bytes]:
    sent: list[bytes] = []
    svc.handle(packet, "127.0.0.1", "udp", sent.append)
    return sent


def assert_error_or_nothing(packet: bytes, sent: list[bytes]) -> None:
    assert len(sent) <= 1
    if sent and sent[0][:2] == packet[:2]:
        reply = sent[0]
        assert reply[2] & 0x80  # a response
        # FORMERR / NOTIMP for broken packets; a packet that happens to be a valid query may
        # get any answer.
        try:
            parse_query(packet)
        except WireError:
            assert reply[3] & 0x0F in (FORMERR, NOTIMP)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes(packet: bytes) -> None:
    svc = service()
    assert_error_or_nothing(packet, answer(svc, packet))
    assert answer(svc, VALID)[0][3] & 0x0F == 0


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.sampled_from([VALID, VALID_EDNS]),
       st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), min_size=1, max_size=8),
       st.integers(0, 80))
def test_mutated_valid_packets(base: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    packet = bytearray(base)
    for offset, value in flips:
        if offset < len(packet):
            packet[offset] = value
    mutated = bytes(packet[: len(packet) - cut if cut < len(packet) else len(packet)])
    svc = service()
    assert_error_or_nothing(mutated, answer(svc, mutated))
    assert answer(svc, VALID)[0][3] & 0x0F == 0


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF),
       st.integers(0, 0xFFFF))
def test_wrong_counts(qd: int, an: int, ns: int, ar: int) -> None:
    packet = VALID[:4] + struct.pack("!HHHH", qd, an, ns, ar) + VALID[12:]
    sent = answer(service(), packet)
    if (qd, an, ns, ar) != (1, 0, 0, 0):
        assert sent and sent[0][3] & 0x0F == FORMERR


HOSTILE = {
    "pointer-to-itself": b"\xc0\x0c\x00\x01\x00\x01",
    "pointer-forward": b"\xc0\x10\x00\x01\x00\x01\xc0\x0c",
    "pointer-after-label": b"\x01a\xc0\x0c\x00\x01\x00\x01",
    "reserved-label-type": b"\x41a\x00\x00\x01\x00\x01",
    "label-past-end": b"\x3fabc",
    "no-terminator": b"\x01a\x01b",
    "name-too-long": b"".join([b"\x3f" + b"a" * 63] * 5) + b"\x00\x00\x01\x00\x01",
    "missing-type": b"\x01a\x00\x00",
    "trailing-bytes": b"\x01a\x00\x00\x01\x00\x01junk",
}


@pytest.mark.parametrize("question", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_questions_get_formerr(question: bytes) -> None:
    packet = b"\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + question
    with pytest.raises(WireError) as error:
        parse_query(packet)
    assert error.value.query_id == 0xABCD and error.value.rcode == FORMERR
    sent = answer(service(), packet)
    assert sent == [b"\xab\xcd\x81\x81\x00\x00\x00\x00\x00\x00\x00\x00"]


@pytest.mark.parametrize(("case", "packet"), [
    ("empty", b""),
    ("short-header", b"\x00" * 11),
    ("a-response", VALID[:2] + b"\x81\x80" + VALID[4:]),
    ("oversized", b"\x00" * 5000),
])
def test_packets_that_get_nothing(case: str, packet: bytes) -> None:
    assert answer(service(), packet) == []


def test_an_opcode_other_than_query_gets_notimp() -> None:
    packet = VALID[:2] + bytes([VALID[2] | 0x28]) + VALID[3:]  # opcode 5 (UPDATE)
    sent = answer(service(), packet)
    assert sent and sent[0][3] & 0x0F == NOTIMP


def test_a_valid_query_parses_with_its_question_echoed() -> None:
    query = parse_query(VALID_EDNS)
    assert query.labels == (b"ok", b"example") and query.qtype == 1
    assert query.edns_size is not None and query.udp_limit() >= 512
    reply = dns.message.from_wire(answer(service(), VALID_EDNS)[0])
    assert [str(r) for rrset in reply.answer for r in rrset] == ["192.0.2.1"]
