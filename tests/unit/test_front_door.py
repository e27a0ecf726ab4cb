"""The front door reads a CONNECT head the way mitmproxy does, or leaves it to mitmproxy."""

from __future__ import annotations

import pytest

from proxy.runtime.front_door import connect_target


def head(text: str) -> list[bytes]:
    return [line.encode("latin-1") for line in text.split("\r\n")]


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("CONNECT example.com:443 HTTP/1.1", ("example.com", 443, None)),
        ("CONNECT example.com:443 HTTP/1.0\r\nUser-Agent: curl/8", ("example.com", 443, "curl/8")),
        ("CONNECT [::1]:8443 HTTP/1.1", ("::1", 8443, None)),
        ("CONNECT 127.1:443 HTTP/1.1", ("127.1", 443, None)),
        ("CONNECT example.com HTTP/1.1", None),  # no port: mitmproxy refuses it
        ("CONNECT example.com:0 HTTP/1.1", None),
        ("CONNECT a@b.com:443 HTTP/1.1", None),
        ("CONNECT example.com:443 HTTP/2.0", None),
        ("CONNECT example.com:443", None),
        ("GET http://example.com/ HTTP/1.1", None),
        ("connect example.com:443 HTTP/1.1", None),
        ("", None),
    ],
)
def test_connect_target(raw: str, want: tuple[str, int, str | None] | None) -> None:
    assert connect_target(head(raw)) == want
