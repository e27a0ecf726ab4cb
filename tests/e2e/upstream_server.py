"""Loopback upstreams for the end-to-end tests, run as their own process.

Serves, on one address: HTTPS and HTTP echo servers (aiohttp, WebSocket echo at /ws), a raw TCP
echo server, a TLS server that speaks a non-HTTP protocol, a TCP echo server that counts the
connections it accepts, and a server (TLS and plain) that answers every request 101 Switching
Protocols and then echoes. Every HTTP request that arrives is
appended to a JSON-lines journal, so tests can prove what reached the upstream and what did not.
Prints one JSON line with the ports when ready.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import ssl
import sys
from pathlib import Path

from aiohttp import WSMsgType, web


def make_app(journal: Path, label: str) -> web.Application:
    async def record(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        entry = {
            "server": label,
            "method": request.method,
            "path": request.path_qs,
            "host": request.headers.get("Host"),
            "headers": dict(request.headers),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "body_len": len(body),
        }
        with journal.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
        if request.path == "/ws":
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await ws.send_str(message.data)
                elif message.type == WSMsgType.BINARY:
                    await ws.send_bytes(message.data)
            return ws
        return web.json_response(entry)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", record)
    return app


async def tcp_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def tls_not_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"* OK not-http service ready\r\n")
    await tcp_echo(reader, writer)


def accept_counter(journal: Path):  # type: ignore[no-untyped-def]
    """A TCP server that records every accepted connection: proof of what reached the upstream."""
    accepts = journal.with_suffix(".accepts")

    async def on_accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with accepts.open("a", encoding="utf-8") as handle:
            handle.write("accept\n")
        await tcp_echo(reader, writer)

    return on_accept


def upgrader(journal: Path):  # type: ignore[no-untyped-def]
    """An HTTP/1.1 server that answers any request 101 Switching Protocols (to the protocol
    the request names in `Upgrade`, h2c by default), then echoes whatever follows and records
    it: what a client sends after an upgrade, if the proxy relayed it, lands in the record."""
    record = journal.with_suffix(".upgraded")

    async def on_accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            protocol = b"h2c"
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"upgrade" and value.strip():
                    protocol = value.strip()
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                         b"Upgrade: " + protocol + b"\r\n\r\n")
            await writer.drain()
            while data := await reader.read(65536):
                with record.open("a", encoding="utf-8") as handle:
                    handle.write(data.decode("latin-1").replace("\n", "\\n") + "\n")
                writer.write(data)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return on_accept


ALPN_MARKER = "glassbreak-test-protocol"  # what a client offers as ALPN to smuggle a value


def alpn_recorder(journal: Path, cert: str, key: str):  # type: ignore[no-untyped-def]
    """A TLS server that prefers ALPN_MARKER over http/1.1 and records which one each
    connection agreed: the marker shows that a client's ALPN names reached the upstream."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols([ALPN_MARKER, "http/1.1"])
    agreed = journal.with_suffix(".alpn")

    async def on_accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ssl_object = writer.get_extra_info("ssl_object")
        with agreed.open("a", encoding="utf-8") as handle:
            handle.write(f"{ssl_object.selected_alpn_protocol()}\n")
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return on_accept, context


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--journal", required=True, type=Path)
    args = parser.parse_args()

    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(args.cert, args.key)

    ports: dict[str, int] = {}
    for label, context in (("https", tls), ("http", None)):
        # auto_decompress off: the journal hashes the bytes exactly as they arrived.
        runner = web.AppRunner(make_app(args.journal, label), access_log=None,
                               auto_decompress=False)
        await runner.setup()
        site = web.TCPSite(runner, args.host, 0, ssl_context=context)
        await site.start()
        server = site._server
        assert server is not None
        ports[label] = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    echo = await asyncio.start_server(tcp_echo, args.host, 0)
    ports["tcp_echo"] = echo.sockets[0].getsockname()[1]
    not_http = await asyncio.start_server(tls_not_http, args.host, 0, ssl=tls)
    ports["tls_not_http"] = not_http.sockets[0].getsockname()[1]
    counter = await asyncio.start_server(accept_counter(args.journal), args.host, 0)
    ports["counter"] = counter.sockets[0].getsockname()[1]
    on_alpn, alpn_tls = alpn_recorder(args.journal, args.cert, args.key)
    alpn = await asyncio.start_server(on_alpn, args.host, 0, ssl=alpn_tls)
    ports["alpn"] = alpn.sockets[0].getsockname()[1]
    for label, context in (("upgrade_tls", tls), ("upgrade_http", None)):
        server = await asyncio.start_server(upgrader(args.journal), args.host, 0, ssl=context)
        ports[label] = server.sockets[0].getsockname()[1]
    print(json.dumps(ports), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
