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

from proxy.dns.service import DnsService
from proxy.dns.wire import HEADER_SIZE, MAX_QUERY_BYTES
from proxy.runtime.listen import ListenAddress

TCP_IDLE_SECONDS = 10.0
MAX_TCP_CONNECTIONS = 256
MAX_TCP_PER_CLIENT = 16
UDP_RECEIVE_BUFFER = 4 * 1024 * 1024  # absorbs bursts so one client's burst does not drop others
MAX_TCP_WRITE_BUFFER = 256 * 1024
UDP_BATCH = 256  # datagrams read per wake-up before other work gets a turn


class _UdpListener:
    """Reads datagrams straight off a non-blocking socket, many per wake-up.

    Cheaper per packet than an asyncio transport (one wake-up drains the queue), which is what
    keeps a flood's dropped packets from crowding out everyone else's.
    """

    def __init__(self, service: DnsService, sock: socket.socket) -> None:
        self._service = service
        self._sock = sock

    def readable(self) -> None:
        sock, handle = self._sock, self._service.handle
        for _ in range(UDP_BATCH):
            try:
                data, addr = sock.recvfrom(MAX_QUERY_BYTES + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # ICMP errors surface here; they concern a past reply
                continue

            def reply(wire: bytes, addr: tuple[str, int] = addr) -> None:
                # A full send buffer drops the answer, as the network could: never block.
                with suppress(OSError):
                    sock.sendto(wire, addr)

            # handle() fails closed on its own; an exception here is a bug: drop the packet,
            # never the server.
            with suppress(Exception):
                handle(data, str(addr[0]), "udp", reply)


class DnsServer:
    def __init__(self, service: DnsService, listen: ListenAddress) -> None:
        self.service = service
        self.listen = listen
        self._udp: socket.socket | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: dict[str, int] = {}

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if self.listen.address.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            with suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
            sock.bind((self.listen.host, self.listen.port))
        except OSError:
            sock.close()
            raise
        self._udp = sock
        loop.add_reader(sock.fileno(), _UdpListener(self.service, sock).readable)
        self._tcp = await asyncio.start_server(self._serve_tcp, self.listen.host,
                                               self.listen.port, reuse_address=True)

    async def close(self) -> None:
        if self._udp is not None:
            asyncio.get_running_loop().remove_reader(self._udp.fileno())
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
