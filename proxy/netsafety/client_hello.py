"""Whether a TLS ClientHello names its server plainly enough to be passed through by its SNI.

A pass-through tunnel (`inspect: false`) is decided by the ClientHello's server name alone: the
proxy checks it against the CONNECT target and relays the bytes. That holds only if the server
at the far end routes the connection by the same name. It need not:

- Encrypted Client Hello (RFC 9849, extension 0xfe0d; its draft predecessor ESNI, 0xffce) hides
  the real server name inside; the plain one is a public cover name. A CDN that serves both
  routes by the hidden name: an allowed cover name would front any other site on that CDN.
- Two server_name extensions, or one that lists several names, let the proxy's parser and the
  server's disagree on which counts (mitmproxy takes the first extension that holds exactly one
  valid name; a lenient server may take the first name it sees). RFC 8446 forbids repeating an
  extension, and RFC 6066 allows one name per type.

Such a ClientHello is not passed through: the tunnel is intercepted instead, where every request
is decided by its own Host and inspected, and a client that insists on ECH fails its handshake.
"""

from __future__ import annotations

from collections import Counter

from mitmproxy import tls

SERVER_NAME = 0x0000
ENCRYPTED_CLIENT_HELLO = 0xFE0D
ENCRYPTED_SERVER_NAME = 0xFFCE  # draft ESNI, still sent by some old clients
_HIDDEN_NAME_EXTENSIONS = frozenset({ENCRYPTED_CLIENT_HELLO, ENCRYPTED_SERVER_NAME})


def why_not_passed_through(hello: tls.ClientHello) -> str | None:
    """None when `hello`'s one plain server name is all a server can route by; else why not."""
    extensions = hello.extensions
    types = Counter(extension_type for extension_type, _ in extensions)
    if _HIDDEN_NAME_EXTENSIONS & types.keys():
        return "encrypted client hello"
    if any(count > 1 for count in types.values()):
        return "an extension repeated"
    for extension_type, body in extensions:
        if extension_type == SERVER_NAME and _server_names(body) != 1:
            return "not exactly one server name"
    return None


def _server_names(body: bytes) -> int:
    """How many names a server_name extension body lists (RFC 6066 §3); -1 if malformed."""
    if len(body) < 2 or int.from_bytes(body[:2], "big") != len(body) - 2:
        return -1
    position, names = 2, 0
    while position < len(body):
        if position + 3 > len(body):
            return -1
        length = int.from_bytes(body[position + 1:position + 3], "big")
        position += 3 + length
        names += 1
    return names if position == len(body) else -1
