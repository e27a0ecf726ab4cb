"""Forwarding allowed questions to the configured upstream resolvers, within a time bound.

Each question goes out from a fresh UDP socket (random source port) with a random id; an answer
counts only if it comes from the resolver asked, carries that id and repeats the question. A
truncated answer is asked again over TCP. Identical questions in flight share one upstream
query, and the number in flight is bounded. Whatever goes wrong ends in UpstreamError, which the
server turns into SERVFAIL.
"""

from __future__ import annotations

import asyncio
import secrets
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from dnslib import DNSLabel, DNSQuestion, DNSRecord

from proxy.policy.dns_model import UpstreamResolver

MAX_IN_FLIGHT = 256
MAX_RESPONSE_BYTES = 65535
_USABLE_RCODES = frozenset({0, 3})  # NOERROR, NXDOMAIN: anything else, ask the next resolver


class UpstreamError(Exception):
    """No usable answer within the bound (timeout, refusal, garbage, nothing configured)."""


@dataclass(frozen=True)
class UpstreamAnswer:
    response: DNSRecord
    resolver: str


class Forwarder:
    def __init__(self, upstreams: Sequence[UpstreamResolver], timeout: float,
                 max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self._upstreams = tuple(upstreams)
        self._timeout = timeout
        self._max_in_flight = max_in_flight
        self._in_flight: dict[tuple[str, int], asyncio.Future[UpstreamAnswer]] = {}

    @property
    def configured(self) -> bool:
        return bool(self._upstreams)

    async def resolve(self, name: str, qtype: int) -> UpstreamAnswer:
        key = (name, qtype)
        shared = self._in_flight.get(key)
        if shared is not None:
            return await asyncio.shield(shared)
        if not self._upstreams:
            raise UpstreamError("no upstream resolver configured")
        if len(self._in_flight) >= self._max_in_flight:
            raise UpstreamError("too many questions in flight")
        future: asyncio.Future[UpstreamAnswer] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            answer = await asyncio.wait_for(self._ask_all(name, qtype), self._timeout)
        except (TimeoutError, UpstreamError) as error:
            failure = error if isinstance(error, UpstreamError) else UpstreamError("timeout")
            future.set_exception(failure)
            future.exception()  # retrieved: waiters re-raise it, nobody else must
            raise failure from None
        finally:
            del self._in_flight[key]
        future.set_result(answer)
        return answer

    async def _ask_all(self, name: str, qtype: int) -> UpstreamAnswer:
        # Each resolver gets an equal share of the bound, so a dead first one leaves time for
        # the next.
        share = self._timeout / len(self._upstreams)
        last: Exception = UpstreamError("no answer")
        for upstream in self._upstreams:
            try:
                response = await asyncio.wait_for(_ask(upstream, name, qtype), share)
            except (TimeoutError, OSError, UpstreamError) as error:
                last = error
                continue
            if response.header.rcode in _USABLE_RCODES:
                return UpstreamAnswer(response=response, resolver=str(upstream))
            last = UpstreamError(f"{upstream} answered rcode {response.header.rcode}")
        raise UpstreamError(str(last) or type(last).__name__)


async def _ask(upstream: UpstreamResolver, name: str, qtype: int) -> DNSRecord:
    query = DNSRecord(q=DNSQuestion(name, qtype))
    query.header.id = secrets.randbits(16)
    query.header.rd = 1
    wire = query.pack()
    response = await _udp(upstream, wire, query)
    if response.header.tc:
        response = await _tcp(upstream, wire, query)
    if not _presentable(response):
        raise UpstreamError(f"{upstream} answered records that cannot be read")
    return response


def _presentable(response: DNSRecord) -> bool:
    """Whether every answer record can be written out (for the audit line). dnslib parses an
    HTTPS record whose unknown SvcParam holds non-ASCII bytes, then raises UnicodeDecodeError
    presenting it: such an answer is malformed, not a bug of ours (any zone owner can send one)."""
    try:
        for record in response.rr:
            str(record.rdata)
    except Exception:  # dnslib raises several types on data it parsed but cannot present
        return False
    return True


class _OneAnswer(asyncio.DatagramProtocol):
    def __init__(self, query: DNSRecord, done: asyncio.Future[DNSRecord]) -> None:
        self._query = query
        self._done = done

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        # The socket is connected: the kernel already dropped datagrams from anyone else.
        response = _matching(data, self._query)
        if response is not None and not self._done.done():
            self._done.set_result(response)

    def error_received(self, exc: Exception) -> None:
        if not self._done.done():
            self._done.set_exception(UpstreamError(f"upstream unreachable: {exc}"))


async def _udp(upstream: UpstreamResolver, wire: bytes, query: DNSRecord) -> DNSRecord:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[DNSRecord] = loop.create_future()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _OneAnswer(query, done), remote_addr=(str(upstream.address), upstream.port))
    try:
        transport.sendto(wire)
        return await done
    finally:
        transport.close()


async def _tcp(upstream: UpstreamResolver, wire: bytes, query: DNSRecord) -> DNSRecord:
    reader, writer = await asyncio.open_connection(str(upstream.address), upstream.port)
    try:
        writer.write(struct.pack("!H", len(wire)) + wire)
        await writer.drain()
        (length,) = struct.unpack("!H", await reader.readexactly(2))
        response = _matching(await reader.readexactly(length), query)
    except asyncio.IncompleteReadError:
        raise UpstreamError("upstream closed the TCP connection early") from None
    finally:
        writer.close()
    if response is None:
        raise UpstreamError("upstream TCP answer does not match the question")
    return response


def _matching(data: bytes, query: DNSRecord) -> DNSRecord | None:
    """The parsed answer when it answers `query`; None for garbage or someone else's answer."""
    try:
        response = DNSRecord.parse(data)
    except Exception:  # dnslib raises several types on garbage; any of them means "not ours"
        return None
    if response.header.id != query.header.id or not response.header.qr:
        return None
    if len(response.questions) != 1:
        return None
    question = response.questions[0]
    if question.qtype != query.q.qtype or DNSLabel(question.qname) != query.q.qname:
        return None
    return response
