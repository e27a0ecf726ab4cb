"""Hand-made clients for what curl and requests will not send: crafted CONNECTs, SNIs, Hosts."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TIMEOUT = 10.0
MAX_HEAD = 64 * 1024


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def reason(self) -> str | None:
        return self.headers.get("x-glassbreak-reason")


def read_reply(sock: socket.socket) -> Reply:
    """Read one HTTP/1 response with a Content-Length body (all our block answers have one)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a full response head: {data[:200]!r}")
        data += chunk
        if len(data) > MAX_HEAD:
            raise ValueError("response head too large")
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return Reply(status=status, headers=headers, body=rest[:length])


def open_tunnel(proxy_port: int, target: str, proxy_host: str = "127.0.0.1"
                ) -> tuple[socket.socket, Reply]:
    sock = socket.create_connection((proxy_host, proxy_port), timeout=TIMEOUT)
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    return sock, read_reply(sock)


def tls_client(sock: socket.socket, sni: str | None, cafile: Path,
               alpn: list[str] | None = None) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(cafile))
    if sni is None:
        context.check_hostname = False
    if alpn:
        context.set_alpn_protocols(alpn)
    return context.wrap_socket(sock, server_hostname=sni)


def http_request(sock: socket.socket, method: str, path: str, headers: list[tuple[str, str]],
                 body: bytes = b"") -> Reply:
    lines = [f"{method} {path} HTTP/1.1"] + [f"{name}: {value}" for name, value in headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    return read_reply(sock)


def closed_without_reply(sock: socket.socket) -> bool:
    """True when the peer closes (or resets) without sending application data."""
    try:
        return sock.recv(65536) == b""
    except (ConnectionResetError, ssl.SSLError, ssl.SSLEOFError):
        return True


def curl(proxy_url: str, url: str, *, cafile: Path, extra: list[str] | None = None,
         timeout: float = 20.0, prefix: list[str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    """curl through the proxy; prints the body then a last line 'code=<status> connect=<status>'."""
    command = (prefix or []) + [
        "curl", "-sS", "--max-time", "10", "--proxy", proxy_url, "--cacert", str(cafile),
        "--noproxy", "", "-w", "\ncode=%{http_code} connect=%{http_connect}",
        *(extra or []), url,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def curl_codes(result: subprocess.CompletedProcess[str]) -> tuple[int, int]:
    last = result.stdout.rsplit("\n", 1)[-1]
    fields = dict(part.split("=", 1) for part in last.split())
    return int(fields["code"]), int(fields["connect"])


def curl_body(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout.rsplit("\n", 1)[0]


def h2_post_with_trailers(proxy_port: int, authority: str, path: str, cafile: Path, *,
                          body: bytes, trailers: list[tuple[str, str]]) -> int | None:
    """One HTTP/2 POST through the proxy whose trailers follow the body; the response status,
    or None when the stream was reset or the connection closed first."""
    answer = h2_exchange(proxy_port, authority, cafile,
                         [(":method", "POST"), (":scheme", "https"), (":authority", authority),
                          (":path", path), ("te", "trailers")], body=body, trailers=trailers)
    return None if answer is None else int(answer[b":status"])


def h2_exchange(proxy_port: int, authority: str, cafile: Path,
                headers: list[tuple[str, str]], *, body: bytes = b"",
                trailers: list[tuple[str, str]] | None = None) -> dict[bytes, bytes] | None:
    """One HTTP/2 request through the proxy, headers sent as given (the client library's own
    checks off: tests send what a hostile client would); the response's headers, or None
    when the stream was reset or the connection closed first."""
    import h2.config
    import h2.connection
    import h2.events

    sock, reply = open_tunnel(proxy_port, authority)
    assert reply.status == 200, reply
    tls = tls_client(sock, authority.rsplit(":", 1)[0], cafile, alpn=["h2"])
    assert tls.selected_alpn_protocol() == "h2"
    conn = h2.connection.H2Connection(h2.config.H2Configuration(
        client_side=True, validate_outbound_headers=False, normalize_outbound_headers=False))
    conn.initiate_connection()
    ends_with_headers = not body and not trailers
    conn.send_headers(1, [(name.encode(), value.encode()) for name, value in headers],
                      end_stream=ends_with_headers)
    if body or trailers:
        conn.send_data(1, body, end_stream=not trailers)
    if trailers:
        conn.send_headers(1, trailers, end_stream=True)
    tls.sendall(conn.data_to_send())
    deadline = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            data = tls.recv(65536)
            if not data:
                return None
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    return dict(event.headers)
                if isinstance(event, h2.events.StreamReset):
                    return None
            tls.sendall(conn.data_to_send())
    finally:
        tls.close()
    return None
