"""Which ClientHellos a pass-through tunnel may be decided by (proxy/netsafety/client_hello.py)."""

from __future__ import annotations

import pytest
from mitmproxy import tls

from proxy.netsafety.client_hello import why_not_passed_through
from tests.client_hellos import (
    ALPN,
    ESNI,
    client_hello,
    ech_outer,
    extension,
    hello_body,
    server_name,
)

_ALPN_H2 = extension(ALPN, b"\x00\x03\x02h2")


def _judged(*extensions: bytes) -> tuple[str | None, str | None]:
    hello = tls.ClientHello(hello_body(client_hello(*extensions)))
    return hello.sni, why_not_passed_through(hello)


@pytest.mark.parametrize("extensions", [
    pytest.param((server_name("allowed.test"),), id="one-name"),
    pytest.param((server_name("allowed.test"), _ALPN_H2), id="one-name-and-alpn"),
    pytest.param((_ALPN_H2, server_name("allowed.test")), id="name-after-alpn"),
])
def test_a_plain_single_name_is_passed_through(extensions: tuple[bytes, ...]) -> None:
    assert _judged(*extensions) == ("allowed.test", None)


@pytest.mark.parametrize(("extensions", "why"), [
    # ECH: the plain name is a cover, the one the server routes by is encrypted inside
    pytest.param((server_name("allowed.test"), ech_outer()), "encrypted client hello",
                 id="ech"),
    pytest.param((ech_outer(), server_name("allowed.test")), "encrypted client hello",
                 id="ech-first"),
    pytest.param((server_name("allowed.test"), extension(ESNI, b"\x13\x01" + b"\x00" * 40)),
                 "encrypted client hello", id="draft-esni"),
    # mitmproxy's sni skips an extension of two names and takes the next one
    pytest.param((server_name("evil.test", "allowed.test"), server_name("allowed.test")),
                 "an extension repeated", id="two-extensions-first-with-two-names"),
    pytest.param((server_name("evil.test"), server_name("allowed.test")),
                 "an extension repeated", id="two-extensions"),
    pytest.param((server_name("allowed.test", "evil.test"),), "not exactly one server name",
                 id="two-names-in-one"),
    pytest.param((server_name("allowed.test"), _ALPN_H2, _ALPN_H2), "an extension repeated",
                 id="alpn-twice"),
])
def test_a_hidden_or_doubled_name_is_not_passed_through(extensions: tuple[bytes, ...],
                                                        why: str) -> None:
    assert _judged(*extensions)[1] == why


def test_a_malformed_server_name_list_is_not_passed_through() -> None:
    hello = tls.ClientHello(hello_body(client_hello(server_name("allowed.test"))))
    truncated = [(kind, body[:-1] if kind == 0 else body) for kind, body in hello.extensions]
    fake = type("Hello", (), {"extensions": truncated})()
    assert why_not_passed_through(fake) == "not exactly one server name"  # type: ignore[arg-type]
