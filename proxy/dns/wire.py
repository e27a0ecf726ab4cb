"""Strict parsing of DNS queries and building of responses on the wire.

A query from a sandbox is small and simple: one question, no answers, at most an EDNS OPT record.
Anything else is refused here, before any other work: a compression pointer in the question (no
stub compresses it, and pointers are how loops are made), a wrong count, a truncated field or
trailing bytes. Answers are packed by dnslib (proxy/dns/answers.py); this module only splices
them behind the client's own header and question.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER = struct.Struct("!HHHHHH")
HEADER_SIZE = 12
MAX_QUERY_BYTES = 4096  # a query is a few dozen bytes; anything this large is not a query
MAX_NAME_WIRE = 255  # RFC 1035 2.3.4, length bytes included
MAX_LABEL = 63
UDP_PLAIN_LIMIT = 512  # RFC 1035, without EDNS
UDP_EDNS_LIMIT = 1232  # the DNS flag day 2020 size: no IP fragmentation
TCP_LIMIT = 65535
OPT_TYPE = 41

# Flags.
QR = 0x8000
OPCODE_MASK = 0x7800
TC = 0x0200
RD = 0x0100
RA = 0x0080

# Response codes.
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
RCODE_NAMES = {NOERROR: "NOERROR", FORMERR: "FORMERR", SERVFAIL: "SERVFAIL",
               NXDOMAIN: "NXDOMAIN", NOTIMP: "NOTIMP", REFUSED: "REFUSED"}

# Our OPT record: root name, type OPT, our UDP payload size, no extended flags, no options.
_OPT_RECORD = b"\x00" + struct.pack("!HHIH", OPT_TYPE, UDP_EDNS_LIMIT, 0, 0)


class WireError(Exception):
    """A packet that is not a query we answer. `query_id` is set when an error answer can be
    addressed to it (the header was readable and it is not a response); `rcode` says which."""

    def __init__(self, message: str, *, query_id: int | None, rcode: int = FORMERR,
                 flags: int = 0) -> None:
        super().__init__(message)
        self.query_id = query_id
        self.rcode = rcode
        self.flags = flags


@dataclass(frozen=True, slots=True)
class Query:
    id: int
    flags: int
    labels: tuple[bytes, ...]  # as sent, case preserved
    qtype: int
    qclass: int
    question: bytes  # the question section as sent, echoed in the answer
    edns_size: int | None  # the client's UDP payload size, None without EDNS

    def udp_limit(self) -> int:
        if self.edns_size is None:
            return UDP_PLAIN_LIMIT
        return max(UDP_PLAIN_LIMIT, min(self.edns_size, UDP_EDNS_LIMIT))


def parse_query(data: bytes) -> Query:
    """The one question of a query, or WireError. Never raises anything else."""
    if len(data) < HEADER_SIZE:
        raise WireError("shorter than a DNS header", query_id=None)
    if len(data) > MAX_QUERY_BYTES:
        raise WireError("larger than any query", query_id=None)
    query_id, flags, qdcount, ancount, nscount, arcount = HEADER.unpack_from(data)
    if flags & QR:
        # Never answer a response: that is how two servers are made to ping-pong forever.
        raise WireError("a response, not a query", query_id=None)
    if flags & OPCODE_MASK:
        raise WireError("opcode is not QUERY", query_id=query_id, rcode=NOTIMP, flags=flags)
    if qdcount != 1 or ancount != 0 or nscount != 0 or arcount > 1:
        raise WireError("a query has one question, no answers and at most an OPT record",
                        query_id=query_id, flags=flags)
    labels, offset = _read_name(data, HEADER_SIZE, query_id, flags)
    if offset + 4 > len(data):
        raise WireError("question truncated", query_id=query_id, flags=flags)
    qtype, qclass = struct.unpack_from("!HH", data, offset)
    offset += 4
    question = data[HEADER_SIZE:offset]
    edns_size = None
    if arcount:
        edns_size, offset = _read_opt(data, offset, query_id, flags)
    if offset != len(data):
        raise WireError("trailing bytes after the query", query_id=query_id, flags=flags)
    return Query(id=query_id, flags=flags, labels=tuple(labels), qtype=qtype, qclass=qclass,
                 question=question, edns_size=edns_size)


def _read_name(data: bytes, offset: int, query_id: int, flags: int) -> tuple[list[bytes], int]:
    labels: list[bytes] = []
    start = offset
    while True:
        if offset >= len(data):
            raise WireError("name truncated", query_id=query_id, flags=flags)
        length = data[offset]
        if length & 0xC0:
            raise WireError("compression pointer or reserved label type in the question",
                            query_id=query_id, flags=flags)
        offset += 1
        if length == 0:
            break
        if offset + length > len(data):
            raise WireError("label truncated", query_id=query_id, flags=flags)
        labels.append(data[offset:offset + length])
        offset += length
        if offset - start > MAX_NAME_WIRE:
            raise WireError("name longer than 255 bytes", query_id=query_id, flags=flags)
    if offset - start > MAX_NAME_WIRE:
        raise WireError("name longer than 255 bytes", query_id=query_id, flags=flags)
    return labels, offset


def _read_opt(data: bytes, offset: int, query_id: int, flags: int) -> tuple[int, int]:
    # Root name (one zero byte), type, class (= UDP size), TTL (extended flags), RDLENGTH.
    if offset + 11 > len(data) or data[offset] != 0:
        raise WireError("additional record is not a valid OPT", query_id=query_id, flags=flags)
    rtype, size, _ttl, rdlength = struct.unpack_from("!HHIH", data, offset + 1)
    if rtype != OPT_TYPE:
        raise WireError("additional record is not OPT", query_id=query_id, flags=flags)
    end = offset + 11 + rdlength
    if end > len(data):
        raise WireError("OPT record truncated", query_id=query_id, flags=flags)
    return size, end


def error_response(query_id: int, flags: int, rcode: int) -> bytes:
    """An answer without a question, for a query whose question could not be read."""
    return HEADER.pack(query_id, QR | (flags & RD) | RA | rcode, 0, 0, 0, 0)


def response(query: Query, rcode: int, answers: bytes = b"", ancount: int = 0,
             *, limit: int) -> bytes:
    """The client's header and question with `answers` (packed RRs) behind them.

    A response larger than `limit` (the client's UDP size) is sent truncated, with TC set and no
    answers, so the client retries over TCP.
    """
    opt = _OPT_RECORD if query.edns_size is not None else b""
    flags = QR | (query.flags & RD) | RA | (rcode & 0xF)
    size = HEADER_SIZE + len(query.question) + len(answers) + len(opt)
    if size > limit:
        flags |= TC
        answers, ancount = b"", 0
    header = HEADER.pack(query.id, flags, 1, ancount, 0, 1 if opt else 0)
    return b"".join((header, query.question, answers, opt))
