"""The DNS server's sockets: UDP and TCP on one address, in the running asyncio loop.

Everything a packet means is decided in proxy/dns/service.py; this module only moves bytes, with
bounds: a TCP length prefix larger than any query closes the connection, idle and slow
connections are closed, and connections are capped per client and in total.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from contextlib import suppress
from typing import cast

from proxy.dns.service import DnsService
from proxy.dns.wire import HEADER_SIZE, MAX_QUERY_BYTES
from proxy.runtime.listen import ListenAddress

TCP_IDLE_SECONDS = 10.0
MAX_TCP_CONNECTIONS = 256
MAX_TCP_PER_CLIENT = 16
UDP_RECEIVE_BUFFER = 4 * 1024 * 1024  # absorbs bursts so one client's burst does not drop others
MAX_TCP_WRITE_BUFFER = 256 * 1024


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, service: DnsService) -> None:
        self._service = service
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The loop hands a datagram transport to a datagram protocol (its class is private).
        self._transport = cast(asyncio.DatagramTransport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        transport = self._transport
        if transport is None:
            return
        client = str(addr[0])

        def reply(wire: bytes) -> None:
            if not transport.is_closing():
                transport.sendto(wire, addr)

        # handle() fails closed on its own; an exception here is a bug: drop the packet, never
        # the server.
        with suppress(Exception):
            self._service.handle(data, client, "udp", reply)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a client that went away: nothing to do.
        return


class DnsServer:
    def __init__(self, service: DnsService, listen: ListenAddress) -> None:
        self.service = service
        self.listen = listen
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: dict[str, int] = {}

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self.service), local_addr=(self.listen.host, self.listen.port))
        self._udp = transport
        self._tcp = await asyncio.start_server(self._serve_tcp, self.listen.host,
                                               self.listen.port, reuse_address=True)

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            with suppress(Exception):
                await asyncio.wait_for(self._tcp.wait_closed(), 2.0)
        with suppress(Exception):
            await asyncio.wait_for(self.service.drain(), 5.0)
        self.service.close()

    async def _serve_tcp(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        client = str(peer[0]) if peer else "?"
        total = sum(self._connections.values())
        if total >= MAX_TCP_CONNECTIONS or self._connections.get(client, 0) >= MAX_TCP_PER_CLIENT:
            writer.close()
            return
        self._connections[client] = self._connections.get(client, 0) + 1
        try:
            await self._tcp_queries(client, reader, writer)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            left = self._connections.get(client, 1) - 1
            if left > 0:
                self._connections[client] = left
            else:
                self._connections.pop(client, None)
            writer.close()

    async def _tcp_queries(self, client: str, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> None:
        while True:
            prefix = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_SECONDS)
            (length,) = struct.unpack("!H", prefix)
            if length < HEADER_SIZE or length > MAX_QUERY_BYTES:
                return  # not a query: close rather than read what may never come
            data = await asyncio.wait_for(reader.readexactly(length), TCP_IDLE_SECONDS)
            answered: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()

            def reply(wire: bytes, done: asyncio.Future[bytes | None] = answered) -> None:
                if not done.done():
                    done.set_result(wire)

            if not self.service.handle(data, client, "tcp", reply):
                return  # dropped (rate limit, not a query): nothing will be answered
            # Answered already, or once the upstream answers (bounded by its timeout).
            wire = await asyncio.wait_for(answered, TCP_IDLE_SECONDS)
            if wire is None:
                return
            writer.write(struct.pack("!H", len(wire)) + wire)
            if writer.transport.get_write_buffer_size() > MAX_TCP_WRITE_BUFFER:
                return  # the client does not read its answers
            await asyncio.wait_for(writer.drain(), TCP_IDLE_SECONDS)
