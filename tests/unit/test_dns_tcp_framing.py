"""DNS-over-TCP framing errors (red team dns2, finding 5): a length prefix no query has, or a
message cut short, closes the connection with one `dns_malformed` line and one count, as a
malformed datagram gets. The real server's sockets on loopback, in process."""

from __future__ import annotations

import asyncio
import struct

import dns.message
import pytest

from proxy.audit.record import DnsAuditRecord
from proxy.dns.server import DnsServer, TcpLimits
from proxy.dns.service import DnsHooks, DnsService
from proxy.policy.loader import load_rules_text
from proxy.runtime.listen import parse_listen
from tests.e2e.processes import free_port

RULES = """\
version: 1
network:
  hosts:
    ok.example: [192.0.2.1]
destinations:
  - host: ok.example
"""
QUERY = dns.message.make_query("ok.example", "A").to_wire()


class Recorder:
    def __init__(self) -> None:
        self.records: list[DnsAuditRecord] = []
        self.counted: list[tuple[str, str]] = []

    def write(self, record: DnsAuditRecord) -> None:
        self.records.append(record)


# (case, bytes the client sends before closing its side)
FRAMING_ERRORS = [
    ("prefix-5", struct.pack("!H", 5) + b"\x00" * 5),
    ("prefix-0", struct.pack("!H", 0)),
    ("prefix-5000", struct.pack("!H", 5000) + b"\x00" * 20),
    ("message-cut-short", struct.pack("!H", len(QUERY)) + QUERY[:-3]),
    ("half-a-prefix", b"\x00"),
    ("good-query-then-prefix-5", struct.pack("!H", len(QUERY)) + QUERY + struct.pack("!H", 5)),
]
# Near misses: a client that closes between queries (or sends nothing) leaves no malformed line.
CLEAN_CLOSES = [
    ("nothing", b""),
    ("one-query", struct.pack("!H", len(QUERY)) + QUERY),
]


async def _session(sent: bytes) -> Recorder:
    audit = Recorder()
    hooks = DnsHooks(on_query=lambda decision, reason: audit.counted.append((decision, reason)))
    service = DnsService(load_rules_text(RULES, "<test>"), audit,  # type: ignore[arg-type]
                         hooks=hooks)
    server = DnsServer(service, parse_listen(f"127.0.0.1:{free_port()}"),
                       TcpLimits(idle_seconds=1.0))
    await server.start()
    assert server._tcp is not None
    port = server._tcp.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(sent)
        await writer.drain()
        writer.write_eof()
        # The server closes its side once it has read the stream: read until then (bounded).
        for _ in range(100):
            if await asyncio.wait_for(reader.read(4096), 3) == b"":
                break
        writer.close()
    finally:
        await server.close()
    return audit


@pytest.mark.parametrize("sent", [pytest.param(s, id=c) for c, s in FRAMING_ERRORS])
def test_a_framing_error_leaves_one_malformed_line_and_one_count(sent: bytes) -> None:
    audit = asyncio.run(_session(sent))
    malformed = [r for r in audit.records if r.reason == "dns_malformed"]
    assert len(malformed) == 1
    line = malformed[0]
    assert (line.transport, line.decision, line.name, line.qtype) == ("tcp", "block", None,
                                                                      None)
    assert audit.counted.count(("block", "dns_malformed")) == 1


@pytest.mark.parametrize("sent", [pytest.param(s, id=c) for c, s in CLEAN_CLOSES])
def test_a_client_closing_between_queries_leaves_no_malformed_line(sent: bytes) -> None:
    audit = asyncio.run(_session(sent))
    assert not [r for r in audit.records if r.reason == "dns_malformed"]
    assert [r.reason for r in audit.records] == (["allowed"] if sent else [])


def test_a_message_that_never_comes_is_cut_short_at_the_idle_bound() -> None:
    async def scenario() -> Recorder:
        audit = Recorder()
        service = DnsService(load_rules_text(RULES, "<test>"), audit)  # type: ignore[arg-type]
        server = DnsServer(service, parse_listen(f"127.0.0.1:{free_port()}"),
                           TcpLimits(idle_seconds=0.3))
        await server.start()
        assert server._tcp is not None
        port = server._tcp.sockets[0].getsockname()[1]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(struct.pack("!H", 40) + b"\x00" * 10)  # and then nothing, kept open
            await writer.drain()
            assert await asyncio.wait_for(reader.read(1), 3) == b""  # closed by the server
            writer.close()
        finally:
            await server.close()
        return audit

    audit = asyncio.run(scenario())
    assert [r.reason for r in audit.records] == ["dns_malformed"]
