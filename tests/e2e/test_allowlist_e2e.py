"""The real proxy process, real upstreams on 127.0.0.2, real clients: what passes, what does not.

Every bypass the allowlist defends against is tried here, and its reason code asserted.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.client_hellos import client_hello, ech_outer, server_name
from tests.e2e.clients import (
    Reply,
    closed_without_reply,
    curl,
    curl_body,
    curl_codes,
    h2_exchange,
    http_request,
    open_tunnel,
    read_reply,
    tls_client,
)
from tests.e2e.processes import GLASSBREAK, Proxy, Upstream, stop, wait_for_port
from tests.e2e.upstream_server import ALPN_MARKER

pytestmark = pytest.mark.e2e


def marker() -> str:
    return uuid.uuid4().hex


# --- allowed traffic arrives unchanged ------------------------------------------------------


def test_allowed_https_get_with_curl_arrives(proxy: Proxy, upstream: Upstream) -> None:
    tag = marker()
    url = f"https://allowed.test:{upstream.ports['https']}/hello?tag={tag}"
    result = curl(proxy.url, url, cafile=proxy.ca, extra=["-H", "X-Test: kept"])
    assert curl_codes(result)[0] == 200, result.stderr
    [seen] = upstream.seen_with_marker(tag)
    assert seen["server"] == "https"
    assert seen["path"] == f"/hello?tag={tag}"
    headers = {name.lower(): value for name, value in seen["headers"].items()}  # type: ignore[attr-defined]
    assert headers["x-test"] == "kept"


def test_allowed_https_post_body_arrives_byte_for_byte(proxy: Proxy, upstream: Upstream) -> None:
    tag = marker()
    body = json.dumps({"tag": tag, "data": "x" * 4000, "n": list(range(50))}).encode()
    response = proxy.session().post(
        f"https://allowed.test:{upstream.ports['https']}/post?tag={tag}", data=body,
        headers={"Content-Type": "application/json"}, timeout=10,
    )
    assert response.status_code == 200
    [seen] = upstream.seen_with_marker(tag)
    assert seen["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert seen["method"] == "POST"


def test_allowed_plain_http_arrives(proxy: Proxy, upstream: Upstream) -> None:
    tag = marker()
    result = curl(proxy.url, f"http://allowed.test:{upstream.ports['http']}/plain?tag={tag}",
                  cafile=proxy.ca)
    assert curl_codes(result)[0] == 200, result.stderr
    [seen] = upstream.seen_with_marker(tag)
    assert seen["server"] == "http"


def test_http2_to_the_proxy_is_allowed_and_checked(proxy: Proxy, upstream: Upstream) -> None:
    tag = marker()
    url = f"https://allowed.test:{upstream.ports['https']}/h2?tag={tag}"
    result = curl(proxy.url, url, cafile=proxy.ca, extra=["--http2", "-v"])
    assert curl_codes(result)[0] == 200, result.stderr
    assert "using HTTP/2" in result.stderr or "HTTP/2 200" in result.stderr
    assert len(upstream.seen_with_marker(tag)) == 1

    tag = marker()
    fronted = curl(proxy.url, f"https://allowed.test:{upstream.ports['https']}/h2?tag={tag}",
                   cafile=proxy.ca, extra=["--http2", "-H", "Host: other.test", "-i"])
    assert curl_codes(fronted)[0] == 403
    assert "x-glassbreak-reason: host_mismatch" in fronted.stdout.lower()
    assert upstream.seen_with_marker(tag) == []


def test_upper_case_name_with_trailing_dot_is_the_same_host(proxy: Proxy,
                                                           upstream: Upstream) -> None:
    sock, reply = open_tunnel(proxy.port, f"ALLOWED.Test.:{upstream.ports['https']}")
    sock.close()
    assert reply.status == 200


def test_wildcard_subdomain_is_allowed(proxy: Proxy, upstream: Upstream) -> None:
    result = curl(proxy.url, f"https://a.wild.test:{upstream.ports['https']}/", cafile=proxy.ca)
    assert curl_codes(result)[0] == 200, result.stderr


def test_proxy_dials_the_address_it_checked(proxy: Proxy, upstream: Upstream) -> None:
    # pinned.test exists only in the rule file's static hosts: the system resolver has never
    # heard of it, so a second lookup at connect time would fail this request.
    result = curl(proxy.url, f"https://pinned.test:{upstream.ports['https']}/", cafile=proxy.ca)
    assert curl_codes(result)[0] == 200, result.stderr


def test_websocket_upgrade_passes_the_same_checks(proxy: Proxy, upstream: Upstream) -> None:
    port = upstream.ports["https"]
    upgrade = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
               ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")]
    sock, reply = open_tunnel(proxy.port, f"allowed.test:{port}")
    assert reply.status == 200
    with tls_client(sock, "allowed.test", proxy.ca) as tls:
        answer = http_request(tls, "GET", "/ws", [("Host", f"allowed.test:{port}"), *upgrade])
    assert answer.status == 101

    sock, reply = open_tunnel(proxy.port, f"allowed.test:{port}")
    with tls_client(sock, "allowed.test", proxy.ca) as tls:
        answer = http_request(tls, "GET", "/ws", [("Host", "other.test"), *upgrade])
    assert (answer.status, answer.reason) == (403, "host_mismatch")


# An upstream that answers 101 to anything but a WebSocket handshake mitmproxy follows would
# turn the connection into a raw TCP relay that no hook sees: (upgrade headers, whom for).
UPGRADE_ATTEMPTS = [
    ([("Upgrade", "h2c"), ("Connection", "Upgrade, HTTP2-Settings"),
      ("HTTP2-Settings", "AAMAAABkAAQAoAAAAAIAAAAA")], "h2c"),
    ([("Upgrade", "foo"), ("Connection", "Upgrade")], "any protocol"),
    # a WebSocket handshake without Sec-WebSocket-Version: mitmproxy does not parse it
    ([("Upgrade", "websocket"), ("Connection", "Upgrade"),
      ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")], "websocket mitmproxy cannot follow"),
    ([], "no Upgrade asked: the upstream answers 101 by itself"),
]


def _upgraded_record(upstream: Upstream) -> str:
    record = upstream.journal.with_suffix(".upgraded")
    return record.read_text(encoding="latin-1") if record.exists() else ""


def _upgrade_in_tunnel(proxy: Proxy, host: str, port: int,
                       headers: list[tuple[str, str]]) -> tuple[ssl.SSLSocket, Reply]:
    sock, reply = open_tunnel(proxy.port, f"{host}:{port}")
    assert reply.status == 200
    tls = tls_client(sock, host, proxy.ca)
    return tls, http_request(tls, "GET", "/switch", [("Host", f"{host}:{port}"), *headers])


def _relayed_after_an_upgrade(proxy: Proxy, upstream: Upstream, host: str) -> str:
    """Upgrade to h2c, send a line after the 101 and check it comes back (the upstream echoes
    what follows an upgrade); the line sent."""
    line = f"relayed {marker()}"
    tls, answer = _upgrade_in_tunnel(proxy, host, upstream.ports["upgrade_tls"],
                                     [("Upgrade", "h2c"), ("Connection", "Upgrade")])
    with tls:
        assert answer.status == 101
        tls.sendall(line.encode())
        assert tls.recv(len(line)) == line.encode()
    return line


def _send_after(sock: socket.socket, data: bytes) -> bool:
    """Send `data` after an answer; True when the proxy had closed the connection instead."""
    try:
        sock.sendall(data)
    except OSError:
        return True
    return closed_without_reply(sock)


@pytest.mark.parametrize(("headers", "label"), UPGRADE_ATTEMPTS,
                         ids=[label for _, label in UPGRADE_ATTEMPTS])
def test_an_upgrade_to_raw_bytes_is_refused_in_a_tunnel(proxy: Proxy, upstream: Upstream,
                                                        headers: list[tuple[str, str]],
                                                        label: str) -> None:
    secret_line = f"POST /admin/{marker()} HTTP/1.1\r\n\r\n".encode()
    tls, answer = _upgrade_in_tunnel(proxy, "allowed.test", upstream.ports["upgrade_tls"],
                                     headers)
    with tls:
        assert (answer.status, answer.reason) == (403, "protocol_not_http"), label
        assert answer.json()["reason"] == "protocol_not_http"
        assert _send_after(tls, secret_line)
    assert secret_line.decode() not in _upgraded_record(upstream).replace("\\n", "\n")
    lines = [line for line in proxy.audit() if line.get("path") == "/switch"]
    assert lines[-1]["decision"] == "block" and lines[-1]["stage"] == "upgrade"


def test_an_upgrade_to_raw_bytes_is_refused_for_plain_http(proxy: Proxy,
                                                           upstream: Upstream) -> None:
    port = upstream.ports["upgrade_http"]
    secret_line = f"POST /admin/{marker()} HTTP/1.1\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        answer = http_request(sock, "GET", f"http://allowed.test:{port}/switch",
                              [("Host", f"allowed.test:{port}"), ("Upgrade", "h2c"),
                               ("Connection", "Upgrade")])
        assert (answer.status, answer.reason) == (403, "protocol_not_http")
        assert _send_after(sock, secret_line)
    assert secret_line.decode() not in _upgraded_record(upstream).replace("\\n", "\n")


def test_an_upgrade_to_raw_bytes_is_relayed_where_raw_tcp_is_allowed(proxy: Proxy,
                                                                     upstream: Upstream) -> None:
    """The near miss: an entry with raw_tcp allows what follows the 101, as it allows raw
    bytes in a tunnel; and the relay the refusals above prevent does carry bytes."""
    line = _relayed_after_an_upgrade(proxy, upstream, "raw.test")
    assert line in _upgraded_record(upstream)


def test_an_upgrade_under_a_monitor_rule_is_relayed_and_logged(proxy: Proxy,
                                                               upstream: Upstream) -> None:
    _relayed_after_an_upgrade(proxy, upstream, "monitor.test")
    lines = [entry for entry in proxy.audit() if entry.get("host") == "monitor.test"
             and entry.get("path") == "/switch"]
    assert lines[-1]["decision"] == "would_block"
    assert lines[-1]["reason"] == "protocol_not_http" and lines[-1]["stage"] == "upgrade"


def test_alpn_names_other_than_http_never_reach_the_upstream(proxy: Proxy,
                                                              upstream: Upstream) -> None:
    """mitmproxy offers the upstream the client's ALPN names as they came, in a ClientHello sent
    in the clear before any request is inspected: a name is a channel. The upstream here
    prefers ALPN_MARKER to http/1.1 and records what it agreed."""
    port = upstream.ports["alpn"]
    agreed = upstream.journal.with_suffix(".alpn")
    before = agreed.read_text().splitlines() if agreed.exists() else []
    sock, reply = open_tunnel(proxy.port, f"allowed.test:{port}")
    assert reply.status == 200
    with tls_client(sock, "allowed.test", proxy.ca, alpn=[ALPN_MARKER, "http/1.1"]) as tls:
        assert tls.selected_alpn_protocol() == "http/1.1"
        answer = http_request(tls, "GET", "/", [("Host", f"allowed.test:{port}")])
    assert answer.status == 200
    assert agreed.read_text().splitlines()[len(before):] == ["http/1.1"]


# --- the block response --------------------------------------------------------------------


def test_denied_connect_gets_403_json_and_headers_and_an_audit_line(proxy: Proxy,
                                                                   upstream: Upstream) -> None:
    sock, reply = open_tunnel(proxy.port, f"other.test:{upstream.ports['https']}")
    sock.close()
    assert reply.status == 403
    assert reply.headers["x-glassbreak-decision"] == "block"
    assert reply.reason == "host_not_allowed"
    body = reply.json()
    assert body["decision"] == "block"
    assert body["reason"] == "host_not_allowed"
    assert body["rule"] is None
    assert body["request_id"] == reply.headers["x-glassbreak-request-id"]
    assert "other.test" in body["message"] and "exception" in body["message"]
    [line] = proxy.audit_for(body["request_id"])
    assert line["decision"] == "block" and line["reason"] == "host_not_allowed"
    assert line["host"] == "other.test" and line["stage"] == "connect"


def test_audit_line_has_no_query_values(proxy: Proxy, upstream: Upstream) -> None:
    secret_like = marker()
    response = proxy.session().get(
        f"https://allowed.test:{upstream.ports['https']}/search?q={secret_like}&page=2",
        timeout=10)
    assert response.status_code == 200
    lines = [line for line in proxy.audit() if line.get("path", "") == "/search?q=&page="]
    assert lines, "the request's audit line is missing"
    assert secret_like not in proxy.audit_log.read_text()
    line = lines[-1]
    assert line["decision"] == "allow" and line["rule"] == "allowed"
    assert line["bytes_down"] > 0 and line["status"] == 200


# --- allowlist misses ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("other.test", "host_not_allowed"),
        ("evilallowed.test", "host_not_allowed"),
        ("allowed.test.evil.test", "host_not_allowed"),
        ("wild.test", "host_not_allowed"),  # "*.wild.test" does not match its apex
        ("allowed.test:8443", "port_not_allowed"),
        ("allowed.test:22", "port_not_allowed"),
        ("allowed.test@other.test", "invalid_host"),
        ("private.test", "private_address"),
        ("mixed.test", "private_address"),  # one bad answer blocks the lot
    ],
)
def test_connect_is_decided_before_tls(proxy: Proxy, upstream: Upstream, target: str,
                                       reason: str) -> None:
    if ":" not in target:
        target = f"{target}:{upstream.ports['https']}"
    sock, reply = open_tunnel(proxy.port, target)
    sock.close()
    assert reply.status in (400, 403)
    if reply.status == 403:
        assert reply.reason == reason


def test_proxy_refuses_to_dial_itself(proxy: Proxy) -> None:
    sock, reply = open_tunnel(proxy.port, f"self.test:{proxy.port}")
    sock.close()
    assert (reply.status, reply.reason) == (403, "proxy_loop")


def test_every_listener_of_the_proxy_is_refused_as_a_loop(tmp_path: Path) -> None:
    """The proxy, its admin listener and its DNS server (TCP on the same port as UDP), even
    where an entry opens their address with raw_tcp: a tunnel to the DNS server would skip
    its per-client view of the traffic. The near miss, another port of the same address, is
    allowed."""
    from tests.e2e.processes import free_port, start_proxy

    port, admin_port, dns_port, other = free_port(), free_port(), free_port(), free_port()
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"""\
version: 1
network:
  allow_private: [127.0.0.1/32]
  hosts:
    self.test: [127.0.0.1]
destinations:
  - id: self
    host: self.test
    ports: [{port}, {admin_port}, {dns_port}, {other}]
    raw_tcp: true
""")
    own = start_proxy(rules, tmp_path / "state", upstream_ca=None, port=port,
                      dns=f"127.0.0.1:{dns_port}", admin_port=admin_port)
    try:
        wait_for_port("127.0.0.1", dns_port, own.process)
        for target in (port, admin_port, dns_port):
            sock, reply = open_tunnel(own.port, f"self.test:{target}")
            sock.close()
            assert (reply.status, reply.reason) == (403, "proxy_loop"), target
        sock, reply = open_tunnel(own.port, f"self.test:{other}")
        sock.close()
        assert reply.status == 200
    finally:
        stop(own.process)


IP_LITERAL_FORMS = [
    "127.0.0.1", "127.1", "2130706433", "0x7f000001", "0177.0.0.1", "0x7f.0.0.1", "127.0.0.3",
    "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:3]", "[0:0:0:0:0:ffff:127.0.0.3]",
]


@pytest.mark.parametrize("literal", IP_LITERAL_FORMS)
def test_ip_literal_connect_is_blocked_in_every_spelling(proxy: Proxy, upstream: Upstream,
                                                         literal: str) -> None:
    sock, reply = open_tunnel(proxy.port, f"{literal}:{upstream.ports['https']}")
    sock.close()
    assert (reply.status, reply.reason) == (403, "ip_literal_not_allowed")


@pytest.mark.parametrize("literal", ["127.0.0.2", "2130706434", "0x7f.0.0.2", "[::ffff:7f00:2]"])
def test_ip_literal_allowed_by_a_cidr_rule_in_any_spelling(proxy: Proxy, upstream: Upstream,
                                                           literal: str) -> None:
    sock, reply = open_tunnel(proxy.port, f"{literal}:{upstream.ports['https']}")
    sock.close()
    assert reply.status == 200


@pytest.mark.parametrize("literal", ["2130706433", "127.1", "0x7f000001", "[::1]"])
def test_ip_literal_plain_http_is_blocked(proxy: Proxy, upstream: Upstream,
                                          literal: str) -> None:
    port = upstream.ports["http"]
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        reply = http_request(sock, "GET", f"http://{literal}:{port}/",
                             [("Host", f"{literal}:{port}")])
    assert (reply.status, reply.reason) == (403, "ip_literal_not_allowed")


def test_userinfo_url_goes_to_the_real_host_and_is_blocked(proxy: Proxy,
                                                           upstream: Upstream) -> None:
    tag = marker()
    port = upstream.ports["http"]
    result = curl(proxy.url, f"http://allowed.test@other.test:{port}/?tag={tag}", cafile=proxy.ca,
                  extra=["-i"])
    assert curl_codes(result)[0] == 403
    assert "x-glassbreak-reason: host_not_allowed" in result.stdout.lower()
    assert upstream.seen_with_marker(tag) == []


def test_userinfo_in_absolute_form_is_not_a_way_in(proxy: Proxy, upstream: Upstream) -> None:
    tag = marker()
    port = upstream.ports["http"]
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(f"GET http://allowed.test@other.test:{port}/?tag={tag} HTTP/1.1\r\n"
                     f"Host: other.test:{port}\r\n\r\n".encode())
        reply = read_reply(sock)
    assert reply.status in (400, 403)
    assert upstream.seen_with_marker(tag) == []


# --- fronting ----------------------------------------------------------------------------------


def test_fronting_by_sni_is_blocked(proxy: Proxy, upstream: Upstream) -> None:
    tag = marker()
    port = upstream.ports["https"]
    sock, reply = open_tunnel(proxy.port, f"allowed.test:{port}")
    assert reply.status == 200
    with tls_client(sock, "other.test", proxy.ca) as tls:
        answer = http_request(tls, "GET", f"/?tag={tag}", [("Host", f"other.test:{port}")])
    assert (answer.status, answer.reason) == (403, "sni_mismatch")
    assert upstream.seen_with_marker(tag) == []


def test_fronting_by_host_header_is_blocked(proxy: Proxy, upstream: Upstream) -> None:
    tag = marker()
    port = upstream.ports["https"]
    sock, _ = open_tunnel(proxy.port, f"allowed.test:{port}")
    with tls_client(sock, "allowed.test", proxy.ca) as tls:
        answer = http_request(tls, "GET", f"/?tag={tag}", [("Host", "other.test")])
    assert (answer.status, answer.reason) == (403, "host_mismatch")
    assert upstream.seen_with_marker(tag) == []


def test_fronting_by_absolute_form_inside_the_tunnel_is_blocked(proxy: Proxy,
                                                                upstream: Upstream) -> None:
    tag = marker()
    port = upstream.ports["https"]
    sock, _ = open_tunnel(proxy.port, f"allowed.test:{port}")
    with tls_client(sock, "allowed.test", proxy.ca) as tls:
        answer = http_request(tls, "GET", f"https://other.test:{port}/?tag={tag}",
                              [("Host", f"allowed.test:{port}")])
    assert (answer.status, answer.reason) == (403, "host_mismatch")
    assert upstream.seen_with_marker(tag) == []


def test_two_host_headers_are_blocked(proxy: Proxy, upstream: Upstream) -> None:
    tag = marker()
    port = upstream.ports["https"]
    sock, _ = open_tunnel(proxy.port, f"allowed.test:{port}")
    with tls_client(sock, "allowed.test", proxy.ca) as tls:
        try:
            answer = http_request(tls, "GET", f"/?tag={tag}",
                                  [("Host", "allowed.test"), ("Host", "other.test")])
        except ConnectionError:
            answer = None  # refusing the malformed request outright is fine too
    assert answer is None or answer.status in (400, 403)
    assert upstream.seen_with_marker(tag) == []


def test_plain_http_fronting_by_host_header_is_blocked(proxy: Proxy,
                                                       upstream: Upstream) -> None:
    tag = marker()
    port = upstream.ports["http"]
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        reply = http_request(sock, "GET", f"http://allowed.test:{port}/?tag={tag}",
                             [("Host", f"other.test:{port}")])
    assert (reply.status, reply.reason) == (403, "host_mismatch")
    assert upstream.seen_with_marker(tag) == []


# --- DNS queries over HTTPS ------------------------------------------------------------------


def test_a_dns_query_over_https_is_refused(proxy: Proxy, upstream: Upstream) -> None:
    """An allowed host that answers DNS over HTTPS would be a resolver the DNS server never
    sees: the query and its labels (a tunnel's payload) would leave unchecked."""
    import base64

    import dns.message

    base = f"https://allowed.test:{upstream.ports['https']}"
    wire = dns.message.make_query(f"{marker()}.attacker.example", "A").to_wire()
    tag = marker()
    posted = proxy.session().post(f"{base}/dns-query?t={tag}", data=wire, timeout=10,
                                  headers={"Content-Type": "application/dns-message"})
    asked = proxy.session().get(f"{base}/dns-query", timeout=10, params={
        "t": tag, "dns": base64.urlsafe_b64encode(wire).decode().rstrip("=")})
    encoded = proxy.session().get(  # the parameter's name percent-encoded: `%64ns` is `dns`
        f"{base}/dns-query?t={tag}&%64ns={base64.urlsafe_b64encode(wire).decode().rstrip('=')}",
        timeout=10)
    untyped = proxy.session().post(f"{base}/q?t={tag}", data=wire, timeout=10,
                                   headers={"Content-Type": "application/octet-stream"})
    for response in (posted, asked, encoded, untyped):
        assert (response.status_code, response.headers["X-Glassbreak-Reason"]) == (
            403, "dns_over_https")
    assert upstream.seen_with_marker(tag) == []
    # the near miss: the same bytes and one more, an ordinary upload, pass
    plain = proxy.session().post(f"{base}/upload?t={tag}", data=wire + b"\x00", timeout=10,
                                 headers={"Content-Type": "application/octet-stream"})
    assert plain.status_code == 200


# --- what a tunnel may carry ------------------------------------------------------------------


def test_tls_to_the_proxy_itself_is_refused(proxy: Proxy, upstream: Upstream) -> None:
    """An https:// proxy URL: TLS to the proxy, then CONNECT and plain HTTP inside. The tunnel
    checks would read the outer TLS as the tunnel's, so the outer TLS is refused whole."""
    tag = marker()
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    with raw:
        try:
            with context.wrap_socket(raw, server_hostname="proxy.test") as tls:
                tls.sendall(f"CONNECT allowed.test:{upstream.ports['http']} HTTP/1.1\r\n"
                            f"Host: allowed.test\r\n\r\nGET /?tag={tag} HTTP/1.1\r\n"
                            f"Host: allowed.test\r\n\r\n".encode())
                assert closed_without_reply(tls)
        except (ssl.SSLError, OSError):
            pass  # refused during the handshake
    assert upstream.seen_with_marker(tag) == []
    # The near miss: the same proxy, spoken to in plain HTTP, answers.
    sock, reply = open_tunnel(proxy.port, f"allowed.test:{upstream.ports['https']}")
    sock.close()
    assert reply.status == 200


def test_plain_http_inside_a_connect_tunnel_is_blocked(proxy: Proxy, upstream: Upstream) -> None:
    tag = marker()
    port = upstream.ports["http"]
    sock, reply = open_tunnel(proxy.port, f"allowed.test:{port}")
    assert reply.status == 200
    with sock:
        answer = http_request(sock, "GET", f"/?tag={tag}", [("Host", f"allowed.test:{port}")])
    assert (answer.status, answer.reason) == (403, "tunnel_not_tls")
    assert upstream.seen_with_marker(tag) == []


def test_raw_bytes_in_a_tunnel_are_refused(proxy: Proxy, upstream: Upstream) -> None:
    sock, reply = open_tunnel(proxy.port, f"allowed.test:{upstream.ports['https']}")
    assert reply.status == 200
    with sock:
        sock.sendall(b"\x00\x01\x02 binary exfiltration channel \xff\n")
        assert closed_without_reply(sock)


def test_non_http_after_tls_is_refused(proxy: Proxy, upstream: Upstream) -> None:
    sock, reply = open_tunnel(proxy.port, f"allowed.test:{upstream.ports['tls_not_http']}")
    assert reply.status == 200
    with tls_client(sock, "allowed.test", proxy.ca) as tls:
        tls.sendall(b"\x00\x01 a private protocol \xff\n")
        assert closed_without_reply(tls)


def test_raw_tcp_allowed_by_rule_is_relayed(proxy: Proxy, upstream: Upstream) -> None:
    sock, reply = open_tunnel(proxy.port, f"raw.test:{upstream.ports['tcp_echo']}")
    assert reply.status == 200
    with sock:
        sock.sendall(b"\x00\x01 ping \xff")
        assert sock.recv(1024) == b"\x00\x01 ping \xff"


def test_passthrough_relays_tls_unopened(proxy: Proxy, upstream: Upstream,
                                         upstream_ca_file: object) -> None:
    port = upstream.ports["https"]
    sock, reply = open_tunnel(proxy.port, f"passthrough.test:{port}")
    assert reply.status == 200
    # The upstream's own certificate, signed by the test CA: the proxy did not intercept.
    with tls_client(sock, "passthrough.test", upstream_ca_file) as tls:  # type: ignore[arg-type]
        answer = http_request(tls, "GET", "/pass", [("Host", f"passthrough.test:{port}")])
    assert answer.status == 200


def test_passthrough_with_another_sni_is_intercepted_and_blocked(proxy: Proxy,
                                                                 upstream: Upstream) -> None:
    port = upstream.ports["https"]
    sock, _ = open_tunnel(proxy.port, f"passthrough.test:{port}")
    with tls_client(sock, "other.test", proxy.ca) as tls:
        answer = http_request(tls, "GET", "/", [("Host", "other.test")])
    assert (answer.status, answer.reason) == (403, "sni_mismatch")


def test_passthrough_is_not_reachable_with_the_proxy_ca_when_sni_matches(
        proxy: Proxy, upstream: Upstream) -> None:
    sock, _ = open_tunnel(proxy.port, f"passthrough.test:{upstream.ports['https']}")
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_client(sock, "passthrough.test", proxy.ca)
    sock.close()


def _relayed(proxy: Proxy, upstream: Upstream, hello: bytes) -> bool:
    """Whether a pass-through tunnel relays `hello` to the upstream (the counting echo server
    sends it back) rather than the proxy answering it; with the upstream's count to match."""
    before = upstream.accepted()
    sock, reply = open_tunnel(proxy.port, f"passthrough.test:{upstream.ports['counter']}")
    assert reply.status == 200
    with sock:
        sock.sendall(hello)
        received = b""
        with contextlib.suppress(OSError):
            while len(received) < len(hello):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
    relayed = received == hello
    time.sleep(0.3)  # an upstream connection, if any, is accepted by now
    assert upstream.accepted() == before + relayed
    return relayed


@pytest.mark.parametrize(("extensions", "relayed"), [
    pytest.param((server_name("passthrough.test"),), True, id="plain-name-relayed"),
    # Encrypted Client Hello: the plain name is a cover, a CDN routes by the hidden one
    pytest.param((server_name("passthrough.test"), ech_outer()), False, id="ech"),
    pytest.param((server_name("other.test", "x.test"), server_name("passthrough.test")), False,
                 id="server-name-twice"),
    pytest.param((server_name("passthrough.test", "other.test"),), False,
                 id="two-names-in-one"),
])
def test_a_passthrough_tunnel_is_relayed_only_by_a_plain_single_server_name(
        proxy: Proxy, upstream: Upstream, extensions: tuple[bytes, ...], relayed: bool) -> None:
    assert _relayed(proxy, upstream, client_hello(*extensions)) is relayed


# --- methods, paths, deny entries, monitor, faults -------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status", "reason"),
    [
        ("GET", "/repos", 200, None),
        ("POST", "/v1/messages", 200, None),
        ("POST", "/v1/messages/batch", 200, None),
        ("POST", "/v1/messagesX", 403, "path_not_allowed"),
        ("POST", "/v1/other", 403, "path_not_allowed"),
        ("DELETE", "/repos", 403, "method_not_allowed"),
        ("PUT", "/v1/messages", 403, "method_not_allowed"),
    ],
)
def test_methods_and_paths(proxy: Proxy, upstream: Upstream, method: str, path: str,
                           status: int, reason: str | None) -> None:
    response = proxy.session().request(
        method, f"https://api.allowed.test:{upstream.ports['https']}{path}", timeout=10)
    assert response.status_code == status
    assert response.headers.get("X-Glassbreak-Reason") == reason


_FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("path", "headers", "body", "status", "reason"),
    [
        # api-messages allows POST /v1/messages only; api-read GET anywhere; allowed.test
        # denies /admin. Servers that obey these run the method or path they name.
        ("/v1/messages?", {"X-HTTP-Method-Override": "DELETE"}, b"{}", 403,
         "method_not_allowed"),
        ("/v1/messages?", {"X-HTTP-Method": "put"}, b"{}", 403, "method_not_allowed"),
        ("/v1/messages?", {"X-Method-Override": "POST, PATCH"}, b"{}", 403, "method_not_allowed"),
        ("/v1/messages?_method=DELETE&", {}, b"{}", 403, "method_not_allowed"),
        ("/v1/messages?%5Fmethod=PUT&", {}, b"{}", 403, "method_not_allowed"),
        ("/v1/messages?", {"Content-Type": _FORM}, b"a=1&_method=DELETE", 403,
         "method_not_allowed"),
        ("/v1/messages?", {"Content-Type": "multipart/form-data; boundary=b"},
         b'--b\r\nContent-Disposition: form-data; name="_method"\r\n\r\nDELETE\r\n--b--\r\n',
         403, "method_not_allowed"),
        ("/v1/messages?", {"X-Rewrite-URL": "/v1/other"}, b"{}", 403, "path_not_allowed"),
        ("/v1/messages?", {"X-Original-URL": "https://api.allowed.test/v1/messages/../../x"},
         b"{}", 403, "path_not_allowed"),
        # near misses: the same method, or names no server reads as an override
        ("/v1/messages?", {"X-HTTP-Method-Override": "POST"}, b"{}", 200, None),
        ("/v1/messages?method=DELETE&", {"X-Method": "DELETE"}, b"{}", 200, None),
        ("/v1/messages?", {"Content-Type": _FORM}, b"a=1&method=DELETE&x_method=PUT", 200,
         None),
        ("/v1/messages?", {"X-Original-URL": "/v1/messages/batch"}, b"{}", 200, None),
    ],
)
def test_method_and_url_overrides_are_judged_too(
        proxy: Proxy, upstream: Upstream, path: str, headers: dict[str, str], body: bytes,
        status: int, reason: str | None) -> None:
    tag = marker()
    response = proxy.session().post(
        f"https://api.allowed.test:{upstream.ports['https']}{path}tag={tag}", data=body,
        headers=headers, timeout=10)
    assert (response.status_code, response.headers.get("X-Glassbreak-Reason")) == (status, reason)
    assert len(upstream.seen_with_marker(tag)) == (1 if status == 200 else 0)


@pytest.mark.parametrize(("override", "expected"), [
    ("/admin/users", "denied_by_rule"), ("/x/%2e%2e/ADMIN", "denied_by_rule"),
    ("/administrator", None),
])
def test_a_url_override_header_over_http2_meets_deny_entries(
        proxy: Proxy, upstream: Upstream, override: str, expected: str | None) -> None:
    tag = marker()
    authority = f"allowed.test:{upstream.ports['https']}"
    headers = [(":method", "GET"), (":scheme", "https"), (":authority", authority),
               (":path", f"/ok?t={tag}"), ("x-original-url", override)]
    answer = h2_exchange(proxy.port, authority, proxy.ca, headers)
    assert answer is not None
    assert answer.get(b"x-glassbreak-reason") == (expected.encode() if expected else None)
    assert len(upstream.seen_with_marker(tag)) == (0 if expected else 1)


def test_explicit_deny_entry_wins_over_allow(proxy: Proxy, upstream: Upstream) -> None:
    client = proxy.session()
    base = f"https://allowed.test:{upstream.ports['https']}"
    denied = client.get(base + "/admin/users", timeout=10)
    assert (denied.status_code, denied.headers["X-Glassbreak-Reason"]) == (403, "denied_by_rule")
    assert denied.json()["rule"] == "admin-denied"
    assert client.get(base + "/administrator", timeout=10).status_code == 200


def test_monitor_rule_lets_through_and_logs_a_would_block(proxy: Proxy,
                                                          upstream: Upstream) -> None:
    tag = marker()
    response = proxy.session().post(
        f"https://monitor.test:{upstream.ports['https']}/m?tag={tag}", data=b"{}", timeout=10)
    assert response.status_code == 200
    assert len(upstream.seen_with_marker(tag)) == 1
    lines = [line for line in proxy.audit() if line.get("path") == "/m?tag="]
    assert lines and lines[-1]["decision"] == "would_block"
    assert lines[-1]["reason"] == "method_not_allowed" and lines[-1]["rule"] == "monitored"


def test_a_crashing_hook_blocks(proxy: Proxy, upstream: Upstream) -> None:
    for port_name in ("https", "http"):
        scheme = "https" if port_name == "https" else "http"
        result = curl(proxy.url, f"{scheme}://fault.test:{upstream.ports[port_name]}/",
                      cafile=proxy.ca, extra=["-i"])
        code, connect = curl_codes(result)
        assert 403 in (code, connect), result.stdout + result.stderr
    sock, reply = open_tunnel(proxy.port, f"fault.test:{upstream.ports['https']}")
    sock.close()
    assert (reply.status, reply.reason) == (403, "internal_error")
    assert reply.json()["approvable"] is False


def test_garbage_request_gets_an_error_and_the_proxy_lives(proxy: Proxy,
                                                           upstream: Upstream) -> None:
    for garbage in (b"\x16\x03\x01\x00\x05hello", b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\n\r\n",
                    b"CONNECT :0 HTTP/1.1\r\n\r\n", b"\xff" * 1000 + b"\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
            sock.sendall(garbage)
            sock.shutdown(socket.SHUT_WR)
            try:
                data = sock.recv(4096)
            except ConnectionResetError:
                data = b""
            assert not data.startswith(b"HTTP/1.1 200")
    assert proxy.process.poll() is None
    result = curl(proxy.url, f"https://allowed.test:{upstream.ports['https']}/", cafile=proxy.ca)
    assert curl_codes(result)[0] == 200
    assert curl_body(result)


# --- nothing reaches the upstream before the decision ----------------------------------------


def test_refused_tunnels_never_open_an_upstream_connection(proxy: Proxy,
                                                           upstream: Upstream) -> None:
    port = upstream.ports["counter"]
    before = upstream.accepted()

    sock, reply = open_tunnel(proxy.port, f"other.test:{port}")  # not allowed
    sock.close()
    assert reply.status == 403

    sock, reply = open_tunnel(proxy.port, f"allowed.test:{port}")  # allowed, then fronted
    assert reply.status == 200
    with tls_client(sock, "other.test", proxy.ca) as tls:
        answer = http_request(tls, "GET", "/", [("Host", "other.test")])
    assert answer.reason == "sni_mismatch"

    sock, reply = open_tunnel(proxy.port, f"allowed.test:{port}")  # allowed, then raw bytes
    with sock:
        sock.sendall(b"\x00 not tls")
        assert closed_without_reply(sock)
    assert upstream.accepted() == before

    # The control: an allowed raw-TCP tunnel does reach the counting server.
    sock, reply = open_tunnel(proxy.port, f"raw.test:{port}")
    with sock:
        sock.sendall(b"ping")
        assert sock.recv(16) == b"ping"
    assert upstream.accepted() == before + 1


def test_a_refused_tunnel_leaves_a_block_line_in_the_audit_log(proxy: Proxy,
                                                               upstream: Upstream) -> None:
    sock, reply = open_tunnel(proxy.port, f"allowed.test:{upstream.ports['counter']}")
    assert reply.status == 200
    with sock:
        sock.sendall(b"\x00\x01 raw")
        assert closed_without_reply(sock)
    # The tunnel's line is written when the proxy sees the client go; poll for it, bounded.
    deadline = time.monotonic() + 10
    lines: list[dict[str, object]] = []
    while time.monotonic() < deadline and not lines:
        lines = [line for line in proxy.audit() if line.get("kind") == "connect"
                 and line.get("reason") == "tunnel_not_tls"
                 and line.get("port") == upstream.ports["counter"]]
        time.sleep(0.05)
    assert lines, "no audit line for the refused tunnel"
    assert lines[-1]["decision"] == "block" and lines[-1]["host"] == "allowed.test"


def test_ipv6_zone_id_literal_is_not_a_way_in(proxy: Proxy, upstream: Upstream) -> None:
    sock, reply = open_tunnel(proxy.port, f"[fe80::1%25lo]:{upstream.ports['https']}")
    sock.close()
    assert reply.status in (400, 403)
    if reply.status == 403:
        assert reply.reason in ("ip_literal_not_allowed", "invalid_host")


@pytest.mark.parametrize(
    ("host", "method", "path", "reason"),
    [
        ("allowed.test", "GET", "//admin/x", "denied_by_rule"),
        ("allowed.test", "GET", "/%61dmin", "denied_by_rule"),
        ("allowed.test", "GET", "/ADMIN", "denied_by_rule"),
        ("allowed.test", "GET", "/x/../admin", "denied_by_rule"),
        ("allowed.test", "GET", "/admin;jsessionid=1", "denied_by_rule"),
        ("api.allowed.test", "POST", "/v1/messages/../../admin", "path_not_allowed"),
        ("api.allowed.test", "POST", "/v1/messages/%2e%2e/%2e%2e/admin", "path_not_allowed"),
        ("api.allowed.test", "POST", "/v1/messages/..;/..;/admin", "path_not_allowed"),
    ],
)
def test_path_tricks_do_not_dodge_path_rules(proxy: Proxy, upstream: Upstream, host: str,
                                             method: str, path: str, reason: str) -> None:
    port = upstream.ports["https"]
    sock, _ = open_tunnel(proxy.port, f"{host}:{port}")
    with tls_client(sock, host, proxy.ca) as tls:
        answer = http_request(tls, method, path, [("Host", f"{host}:{port}")], body=b"{}")
    assert (answer.status, answer.reason) == (403, reason)


def _smuggled(marker: str) -> str:
    """A second request, as an HTTP/1.1 upstream would read it after a line break."""
    return (f"1\r\n\r\nDELETE /admin/everything?t={marker} HTTP/1.1\r\nHost: other.test"
            "\r\nX-Pad: x")


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("crlf-in-header-value", "request_malformed"),
        ("lf-in-header-value", "request_malformed"),
        ("nul-in-header-value", "request_malformed"),
        ("crlf-in-path", "request_malformed"),
        ("fragment-in-path", "request_malformed"),
        ("space-in-path", "request_malformed"),
        ("crlf-in-trailer", "request_malformed"),
        # near misses: encoded, or a tab inside a value, are what clients send
        ("encoded-crlf-in-header-value", None),
        ("encoded-fragment-in-path", None),
        ("tab-in-header-value", None),
    ],
)
def test_http2_framing_characters_are_refused_before_an_http1_upstream_reads_them(
        proxy: Proxy, upstream: Upstream, case: str, expected: str | None) -> None:
    """mitmproxy writes an HTTP/2 request to an HTTP/1.1 upstream byte for byte: a line break
    in a header value or `:path` became a second request no check saw (red team, ssrf2)."""
    authority = f"allowed.test:{upstream.ports['https']}"
    tag = marker()
    path, extra, trailers = f"/ok?t={tag}", [("x-a", "1")], None
    if case == "crlf-in-header-value":
        extra = [("x-a", _smuggled(tag))]
    elif case == "lf-in-header-value":
        extra = [("x-a", _smuggled(tag).replace("\r\n", "\n"))]
    elif case == "nul-in-header-value":
        extra = [("x-a", "1\x00 2")]
    elif case == "crlf-in-path":
        path = f"/ok?t={tag} HTTP/1.1\r\nHost: allowed.test\r\n\r\nPOST /admin/x?t={tag}"
    elif case == "fragment-in-path":
        path = f"/ok#/../admin/secret?t={tag}"
    elif case == "space-in-path":
        path = f"/ok?t={tag} HTTP/1.1"
    elif case == "crlf-in-trailer":
        trailers = [("x-sum", _smuggled(tag))]
    elif case == "encoded-crlf-in-header-value":
        extra = [("x-a", "1%0d%0aDELETE /admin")]
    elif case == "encoded-fragment-in-path":
        path = f"/ok%23/x?t={tag}"
    elif case == "tab-in-header-value":
        extra = [("x-a", "1\t2")]
    headers = [(":method", "POST" if trailers else "GET"), (":scheme", "https"),
               (":authority", authority), (":path", path), *extra]
    if trailers:
        headers.append(("te", "trailers"))
    answer = h2_exchange(proxy.port, authority, proxy.ca, headers,
                         body=b"x" if trailers else b"", trailers=trailers)
    assert answer is not None, "the stream was reset: the test did not reach the proxy's checks"
    if expected is None:
        assert answer.get(b"x-glassbreak-reason") is None
        assert len(upstream.seen_with_marker(tag)) == 1
        return
    assert (answer[b":status"], answer[b"x-glassbreak-reason"]) == (b"403", expected.encode())
    # every request smuggled in carries the marker too
    assert upstream.seen_with_marker(tag) == [], "the upstream received a request"


@pytest.mark.parametrize("host", ["allowed.test", "monitor.test"])
def test_a_raw_fragment_in_an_http1_target_is_refused_in_every_mode(
        proxy: Proxy, upstream: Upstream, host: str) -> None:
    """`/ok#/../admin`: a path reading stops at `#`, a server that keeps it serves /admin.
    Refused in a tunnel and as a plain proxy request, in monitor mode too."""
    tag = marker()
    port = upstream.ports["https"]
    sock, _ = open_tunnel(proxy.port, f"{host}:{port}")
    with tls_client(sock, host, proxy.ca) as tls:
        answer = http_request(tls, "GET", f"/ok#/../admin/x?t={tag}", [("Host", f"{host}:{port}")])
    assert (answer.status, answer.reason) == (403, "request_malformed")
    if host == "allowed.test":
        plain = upstream.ports["http"]
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
            answer = http_request(sock, "GET", f"http://{host}:{plain}/ok#/../admin/x?t={tag}",
                                  [("Host", f"{host}:{plain}")])
        assert (answer.status, answer.reason) == (403, "request_malformed")
    assert upstream.seen_with_marker(tag) == []


def test_kept_alive_connections_reuse_one_upstream_connection(proxy: Proxy,
                                                              upstream: Upstream) -> None:
    # mitmproxy allows five upstream connections per address and client: more requests than that
    # on one kept-alive connection hang unless the pinned connection is found again and reused.
    client = proxy.session()
    tag = marker()
    for scheme, port in (("https", upstream.ports["https"]), ("http", upstream.ports["http"])):
        for index in range(12):
            response = client.get(f"{scheme}://allowed.test:{port}/keep?tag={tag}&i={index}",
                                  timeout=5)
            assert response.status_code == 200
    assert len(upstream.seen_with_marker(tag)) == 24


def test_a_connect_head_in_pieces_is_judged_the_same(proxy: Proxy, upstream: Upstream) -> None:
    # Whole heads are refused by the front door; a head split across segments is handed to
    # mitmproxy and refused by the addons: the answer must not depend on the path taken.
    target = f"other.test:{upstream.ports['https']}"
    whole_sock, whole = open_tunnel(proxy.port, target)
    whole_sock.close()
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\n".encode())
        time.sleep(0.2)  # let the front door see the incomplete head first
        sock.sendall(f"Host: {target}\r\n\r\n".encode())
        pieces = read_reply(sock)
    for reply in (whole, pieces):
        assert (reply.status, reply.reason) == (403, "host_not_allowed")
        assert set(reply.json()) == {"decision", "reason", "rule", "request_id", "approvable",
                                     "message"}
    assert whole.headers.get("connection") == "close"  # the front door answered this one


def test_front_door_refusals_are_audited(proxy: Proxy, upstream: Upstream) -> None:
    sock, reply = open_tunnel(proxy.port, f"evil.test:{upstream.ports['https']}")
    sock.close()
    [line] = proxy.audit_for(reply.headers["x-glassbreak-request-id"])
    assert (line["kind"], line["decision"], line["reason"]) == ("connect", "block",
                                                                "host_not_allowed")
    assert line["status"] == 403 and line["host"] == "evil.test"


def test_clients_configured_by_glassbreak_env_reach_exactly_the_allowlist(
        proxy: Proxy, upstream: Upstream) -> None:
    # What a sandbox does: eval the exports, then use curl and Python with no proxy flags at all.
    tag = marker()
    port = upstream.ports["https"]
    script = (
        f'eval "$({GLASSBREAK} env --state-dir {proxy.state_dir} --proxy {proxy.url})"\n'
        f'curl -sS -o /dev/null -w "%{{http_code}}\\n" https://allowed.test:{port}/env?tag={tag}\n'
        f'curl -sS -o /dev/null -w "%{{http_connect}}\\n" https://other.test:{port}/ || true\n'
        f'{sys.executable} -c "import requests; '
        f"print(requests.get('https://allowed.test:{port}/env?tag={tag}', timeout=10).status_code)"
        '"\n'
    )
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.stdout.split() == ["200", "403", "200"], result.stdout + result.stderr
    assert len(upstream.seen_with_marker(tag)) == 2


@pytest.mark.parametrize("labels", [
    "{key}",  # the whole key as one label
    "{head}.{tail}",  # cut into two labels
    "x-{key}-y",  # glued into one label with hyphens
    "{hex_head}.{hex_tail}",  # its hex over two labels (red team exfil5)
    "backup-{hex_head}.{hex_tail}-prod",
    "{b32_head}.{b32_tail}",  # its base32
])
def test_a_secret_in_a_host_under_an_allowed_wildcard_is_refused_before_resolution(
        proxy: Proxy, upstream: Upstream, labels: str) -> None:
    """Resolving `<key>.wild.test` would send the key to a resolver: refused before that (the
    reason would be resolution_failed otherwise: the name is in no hosts map)."""
    key = "AKIA" + "GVRZQ5CFT3DQ7XB7"  # format-valid, fake
    hexed, b32 = key.encode().hex(), base64.b32encode(key.encode()).decode().rstrip("=")
    name = labels.format(key=key, head=key[:10], tail=key[10:], hex_head=hexed[:20],
                         hex_tail=hexed[20:], b32_head=b32[:16], b32_tail=b32[16:]
                         ).lower() + ".wild.test"
    sock, reply = open_tunnel(proxy.port, f"{name}:{upstream.ports['https']}")
    sock.close()
    assert reply.status == 403
    assert reply.reason == "secret_detected"
    assert key.lower() not in reply.body.decode().lower()  # the answer names it masked
    lines = [line for line in proxy.audit() if line.get("reason") == "secret_detected"
             and line.get("kind") == "connect"]
    assert lines and all(key.lower() not in str(line) for line in lines)
