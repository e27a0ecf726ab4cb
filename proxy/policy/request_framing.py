"""Characters that would let one request become two, or another path, on the way upstream.

mitmproxy writes an HTTP/2 request to an HTTP/1.1 upstream byte for byte, and neither it nor
the h2 library refuses CR, LF or NUL in a header value or in `:path` (only in header names).
So `x-a: 1\\r\\n\\r\\nDELETE /admin HTTP/1.1\\r\\nHost: internal.test` behind an allowed
`GET /ok` reached the upstream as a second request that no check saw, to any path and any
virtual host at the checked address (red team, ssrf2). A raw `#` in a request-target is no
fragment (clients never send one; RFC 9112's request-target has none), yet a path reading stops
there while servers that keep it resolve `/ok#/../admin` to `/admin`. Either is refused before
any decision: `request_malformed`, in every mode, for every entry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# What ends a line or a string in some parser on the way: never in a name, value or target.
_FRAMING = re.compile(rb"[\r\n\x00]")
# In the method and the request-target: no white space or control character at all, and no
# raw "#".
_TARGET_FORBIDDEN = re.compile(rb"[\x00-\x20\x7f#]")
_METHOD_FORBIDDEN = re.compile(rb"[\x00-\x20\x7f]")


def malformed_request(method: bytes, target: bytes, authority: bytes,
                      fields: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether a request's method, request-target (`:path`), authority, or any header or
    trailer name or value (`fields`) holds what could split it or cut its path short."""
    if _METHOD_FORBIDDEN.search(method) or _TARGET_FORBIDDEN.search(target):
        return True
    if _FRAMING.search(authority):
        return True
    return any(_FRAMING.search(name) or _FRAMING.search(value) for name, value in fields)
