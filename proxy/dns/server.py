"""The DNS server's sockets: UDP and TCP on one address, in the running asyncio loop.

Everything a packet means is decided in proxy/dns/service.py; this module only moves bytes, with
bounds: a TCP length prefix larger than any query (or shorter than a header, or a message cut
short) closes the connection with one `dns_malformed` audit line, idle and slow
connections are closed, each connection has a lifetime and a query budget, and connections are
capped per client and in total. A full table never turns a new client away: the idlest
connection of the client holding the most is closed to make room (its own, when a client is at
its own cap), so a few addresses cannot keep every slot by trickling queries.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import struct
import time
from contextlib import suppress
from dataclasses import dataclass, field

from proxy.dns.service import DnsService
from proxy.dns.wire import HEADER_SIZE, MAX_QUERY_BYTES
from proxy.runtime.listen import ListenAddress

TCP_IDLE_SECONDS = 10.0
TCP_LIFETIME_SECONDS = 30.0
MAX_TCP_QUERIES = 1000  # per connection
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


@dataclass(frozen=True, kw_only=True)
class TcpLimits:
    idle_seconds: float = TCP_IDLE_SECONDS
    lifetime_seconds: float = TCP_LIFETIME_SECONDS
    max_queries: int = MAX_TCP_QUERIES
    max_connections: int = MAX_TCP_CONNECTIONS
    max_per_client: int = MAX_TCP_PER_CLIENT


@dataclass(eq=False)
class _Connection:
    writer: asyncio.StreamWriter
    opened: float
    last_active: float = field(default=0.0)


class DnsServer:
    def __init__(self, service: DnsService, listen: ListenAddress,
                 tcp_limits: TcpLimits | None = None) -> None:
        self.service = service
        self.listen = listen
        self.tcp_limits = tcp_limits or TcpLimits()
        self._udp: socket.socket | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: dict[str, dict[int, _Connection]] = {}
        self._ids = itertools.count()

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
        limits = self.tcp_limits
        self._make_room(client)
        now = time.monotonic()
        ident = next(self._ids)
        self._connections.setdefault(client, {})[ident] = _Connection(writer, now, now)
        try:
            await asyncio.wait_for(self._tcp_queries(client, ident, reader, writer),
                                   limits.lifetime_seconds)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            mine = self._connections.get(client)
            if mine is not None:
                mine.pop(ident, None)
                if not mine:
                    del self._connections[client]
            writer.close()

    def _make_room(self, client: str) -> None:
        """Close connections until `client` may open one more (never refuse the newcomer)."""
        limits = self.tcp_limits
        for _ in range(limits.max_connections + 1):  # bounded: each round closes one
            mine = self._connections.get(client, {})
            total = sum(len(c) for c in self._connections.values())
            if len(mine) >= limits.max_per_client:
                victim_client = client
            elif total >= limits.max_connections:
                victim_client = max(self._connections, key=lambda c: len(self._connections[c]))
            else:
                return
            table = self._connections[victim_client]
            ident = min(table, key=lambda i: (table[i].last_active, table[i].opened))
            table.pop(ident).writer.transport.abort()
            if not table:
                del self._connections[victim_client]

    async def _tcp_queries(self, client: str, ident: int, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> None:
        idle = self.tcp_limits.idle_seconds
        for _ in range(self.tcp_limits.max_queries):
            try:
                prefix = await asyncio.wait_for(reader.readexactly(2), idle)
            except asyncio.IncompleteReadError as error:
                if error.partial:  # half a length prefix, then the end of the stream
                    self.service.malformed_frame(client, "tcp")
                return  # else the client closed between queries, as clients do
            (length,) = struct.unpack("!H", prefix)
            if length < HEADER_SIZE or length > MAX_QUERY_BYTES:
                # Not a query: close rather than read what may never come, with one line.
                self.service.malformed_frame(client, "tcp")
                return
            try:
                data = await asyncio.wait_for(reader.readexactly(length), idle)
            except (asyncio.IncompleteReadError, TimeoutError):
                self.service.malformed_frame(client, "tcp")  # a message cut short
                return
            answered: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()

            def reply(wire: bytes, done: asyncio.Future[bytes | None] = answered) -> None:
                if not done.done():
                    done.set_result(wire)

            if not self.service.handle(data, client, "tcp", reply):
                return  # dropped (rate limit, not a query): nothing will be answered
            # Answered already, or once the upstream answers (bounded by its timeout).
            wire = await asyncio.wait_for(answered, idle)
            if wire is None:
                return
            writer.write(struct.pack("!H", len(wire)) + wire)
            if writer.transport.get_write_buffer_size() > MAX_TCP_WRITE_BUFFER:
                return  # the client does not read its answers
            await asyncio.wait_for(writer.drain(), idle)
            connection = self._connections.get(client, {}).get(ident)
            if connection is not None:
                connection.last_active = time.monotonic()
