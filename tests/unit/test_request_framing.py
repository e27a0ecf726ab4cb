"""What could turn one request into two, or change its path, on the way to an HTTP/1.1 upstream
(red team, ssrf2): a table with near misses."""

from __future__ import annotations

import pytest

from proxy.policy.request_framing import malformed_request

CLEAN = (b"GET", b"/v1/items?q=a%20b", b"api.example.com:443",
         [(b"accept", b"*/*"), (b"user-agent", b"curl/8")])


def _with(*, method: bytes = CLEAN[0], target: bytes = CLEAN[1], authority: bytes = CLEAN[2],
          fields: list[tuple[bytes, bytes]] | None = None) -> bool:
    return malformed_request(method, target, authority, CLEAN[3] + (fields or []))


@pytest.mark.parametrize(("case", "malformed"), [
    (dict(fields=[(b"x-a", b"1\r\n\r\nDELETE /admin HTTP/1.1\r\nHost: internal")]), True),
    (dict(fields=[(b"x-a", b"1\nX-Injected: 2")]), True),
    (dict(fields=[(b"x-a", b"1\rX")]), True),
    (dict(fields=[(b"x-a", b"1\x002")]), True),
    (dict(fields=[(b"x-a\r\nx-b", b"1")]), True),
    (dict(target=b"/ok HTTP/1.1\r\nHost: a\r\n\r\nPOST /admin"), True),
    (dict(target=b"/ok#/../admin"), True),
    (dict(target=b"/ok?x=1#frag"), True),
    (dict(target=b"/ok /admin"), True),
    (dict(target=b"/ok\t"), True),
    (dict(target=b"/ok\x7f"), True),
    (dict(target=b"/ok\x00"), True),
    (dict(method=b"GET /admin HTTP/1.1\r\n"), True),
    (dict(method=b"GE T"), True),
    (dict(authority=b"a.example\r\nX: 1"), True),
    # near misses: encoded forms, a tab or obs-text inside a value, UTF-8 in a path
    ({}, False),
    (dict(fields=[(b"x-a", b"1%0d%0aDELETE")]), False),
    (dict(fields=[(b"x-a", b"a\tb")]), False),
    (dict(fields=[(b"x-a", "caf\u00e9".encode())]), False),
    (dict(target=b"/ok%23/../admin"), False),
    (dict(target="/caf\u00e9/\u6587".encode()), False),
    (dict(target=b"*"), False),
    (dict(method=b"PROPFIND"), False),
], ids=lambda value: repr(value)[:60] if isinstance(value, dict) else str(value))
def test_framing_characters(case: dict[str, object], malformed: bool) -> None:
    assert _with(**case) is malformed  # type: ignore[arg-type]
