"""Hand-built TLS ClientHello records, for what no TLS library sends on request: an Encrypted
Client Hello extension, a server_name extension twice, two names in one."""

from __future__ import annotations

import os

SERVER_NAME, ECH, ESNI, ALPN = 0x0000, 0xFE0D, 0xFFCE, 0x0010
# TLS 1.2 ECDHE-RSA-AES128-GCM-SHA256 and ECDHE-RSA-AES256-GCM-SHA384, TLS 1.3 AES-128-GCM
_CIPHER_SUITES = (0xC02F, 0xC030, 0x1301)


def _u16(value: int) -> bytes:
    return value.to_bytes(2, "big")


def extension(kind: int, body: bytes) -> bytes:
    return _u16(kind) + _u16(len(body)) + body


def server_name(*names: str) -> bytes:
    """A server_name extension listing `names` (RFC 6066 §3), host_name type each."""
    entries = b"".join(b"\x00" + _u16(len(name)) + name.encode() for name in names)
    return extension(SERVER_NAME, _u16(len(entries)) + entries)


def ech_outer() -> bytes:
    """An outer ECH extension: outer type, HPKE suite, config id, enc and a random payload."""
    enc, payload = os.urandom(32), os.urandom(160)
    body = b"\x00" + _u16(0x0001) + _u16(0x0001) + b"\x2a" + _u16(len(enc)) + enc \
        + _u16(len(payload)) + payload
    return extension(ECH, body)


def client_hello(*extensions: bytes) -> bytes:
    """A ClientHello record (TLS 1.2 on the wire) carrying `extensions` as given."""
    suites = b"".join(_u16(suite) for suite in _CIPHER_SUITES)
    joined = b"".join(extensions)
    hello = (b"\x03\x03" + os.urandom(32) + b"\x00" + _u16(len(suites)) + suites + b"\x01\x00"
             + _u16(len(joined)) + joined)
    handshake = b"\x01" + len(hello).to_bytes(3, "big") + hello
    return b"\x16\x03\x01" + _u16(len(handshake)) + handshake


def hello_body(record: bytes) -> bytes:
    """The ClientHello message body of a record from client_hello (what mitmproxy parses)."""
    return record[9:]
