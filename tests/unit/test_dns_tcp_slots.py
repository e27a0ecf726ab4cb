"""DNS-over-TCP slots (red-team F7): a few addresses cannot hold every slot. The real server's
sockets on loopback, in process, with small limits: a full table closes the idlest connection
of the client holding the most, and every connection has a lifetime and a query budget."""

from __future__ import annotations

import asyncio
import struct

import dns.message

from proxy.dns.server import DnsServer, TcpLimits
from proxy.dns.service import DnsService
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


async def query(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
    wire = dns.message.make_query("ok.example", "A").to_wire()
    writer.write(struct.pack("!H", len(wire)) + wire)
    await writer.drain()
    (length,) = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 3))
    return dns.message.from_wire(await reader.readexactly(length)).rcode()


async def closed(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), 3) == b""
    except (ConnectionError, OSError):
        return True


async def start(limits: TcpLimits) -> tuple[DnsServer, int]:
    server = DnsServer(DnsService(load_rules_text(RULES, "<test>"), None),
                       parse_listen(f"127.0.0.1:{free_port()}"), limits)
    await server.start()
    assert server._tcp is not None
    return server, server._tcp.sockets[0].getsockname()[1]


def test_a_full_table_closes_the_hoarders_idlest_connection() -> None:
    async def scenario() -> None:
        server, port = await start(TcpLimits(max_connections=8, max_per_client=4))
        held = []
        try:
            for address in ("127.0.1.1", "127.0.1.2"):
                for _ in range(4):
                    held.append(await asyncio.open_connection(
                        "127.0.0.1", port, local_addr=(address, 0)))
            await asyncio.sleep(0.1)
            for reader, writer in held[1:]:  # every connection but the first is active
                assert await query(reader, writer) == 0
            newcomer = await asyncio.open_connection("127.0.0.1", port,
                                                     local_addr=("127.0.2.1", 0))
            assert await query(*newcomer) == 0  # served, not turned away
            assert await closed(held[0][0])  # the idlest one of the first hoarder went
            newcomer[1].close()
        finally:
            for _, writer in held:
                writer.close()
            await server.close()

    asyncio.run(scenario())


def test_a_client_at_its_own_cap_replaces_its_own_idlest() -> None:
    async def scenario() -> None:
        server, port = await start(TcpLimits(max_per_client=2))
        try:
            first = await asyncio.open_connection("127.0.0.1", port)
            second = await asyncio.open_connection("127.0.0.1", port)
            await asyncio.sleep(0.05)
            assert await query(*second) == 0
            third = await asyncio.open_connection("127.0.0.1", port)
            assert await query(*third) == 0
            assert await closed(first[0])
            for _, writer in (first, second, third):
                writer.close()
        finally:
            await server.close()

    asyncio.run(scenario())


def test_a_connection_has_a_lifetime_and_a_query_budget() -> None:
    async def scenario() -> None:
        server, port = await start(TcpLimits(lifetime_seconds=0.6, max_queries=3))
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert [await query(reader, writer) for _ in range(3)] == [0, 0, 0]
            assert await closed(reader)  # the budget is spent
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            answered = 0
            for _ in range(20):  # a trickle that is never idle still ends with the lifetime
                try:
                    await query(reader, writer)
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                answered += 1
                await asyncio.sleep(0.1)
            assert answered < 10
            writer.close()
        finally:
            await server.close()

    asyncio.run(scenario())
