"""Tables for host normalisation, IP literal parsing and host patterns (no network involved)."""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv6Address

import pytest

from proxy.policy.hosts import (
    HostError,
    HostPattern,
    is_ip_literal,
    normalise_host,
    parse_ip_literal,
)


def full_width(text: str) -> str:
    """The full-width forms (U+FF01..U+FF5E) of printable ASCII, which UTS 46 maps back."""
    return "".join(chr(ord(char) + 0xFEE0) for char in text)


# --- normalise_host: accepted spellings ----------------------------------------------------

NORMALISED = [
    pytest.param("example.com", "example.com", id="plain-name-unchanged"),
    pytest.param("bAdExAmPlE.cOm", "badexample.com", id="mixed-case-lowered"),
    pytest.param("GitHub.COM.", "github.com", id="upper-case-with-trailing-dot"),
    pytest.param("example.com.", "example.com", id="one-trailing-dot-stripped"),
    pytest.param("api.github.com", "api.github.com", id="subdomain-unchanged"),
    pytest.param("_acme-challenge.example.com", "_acme-challenge.example.com", id="underscore-ok"),
    pytest.param("a-b.example.com", "a-b.example.com", id="inner-hyphen-ok"),
    pytest.param("123.example.com", "123.example.com", id="numeric-inner-label-is-a-name"),
    pytest.param("example.0x1g", "example.0x1g", id="last-label-not-hex-is-a-name"),
    pytest.param("localhost", "localhost", id="single-label-name"),
    pytest.param("bücher.example", "xn--bcher-kva.example", id="idn-to-punycode"),
    pytest.param("BÜCHER.Example", "xn--bcher-kva.example", id="idn-mixed-case"),
    pytest.param("xn--bcher-kva.example", "xn--bcher-kva.example", id="punycode-unchanged"),
    pytest.param("XN--BCHER-KVA.example", "xn--bcher-kva.example", id="punycode-upper-case"),
    pytest.param("example。com", "example.com", id="ideographic-full-stop-uts46"),
    pytest.param("example\uff0ecom", "example.com", id="full-width-full-stop-uts46"),
    pytest.param(f"{full_width('example')}.com", "example.com", id="full-width-letters-uts46"),
    pytest.param("faß.de", "xn--fa-hia.de", id="sharp-s-nontransitional-idna2008"),
    pytest.param("a" * 63 + ".com", "a" * 63 + ".com", id="label-of-63-ok"),
    # IPv4 in every spelling inet_aton and browsers accept becomes one dotted quad.
    pytest.param("127.0.0.1", "127.0.0.1", id="ipv4-dotted-quad"),
    pytest.param("127.0.0.1.", "127.0.0.1", id="ipv4-trailing-dot"),
    pytest.param("127.1", "127.0.0.1", id="ipv4-short-two-parts"),
    pytest.param("127.0.1", "127.0.0.1", id="ipv4-short-three-parts"),
    pytest.param("2130706433", "127.0.0.1", id="ipv4-one-decimal-number"),
    pytest.param("0x7f000001", "127.0.0.1", id="ipv4-one-hex-number"),
    pytest.param("0X7F000001", "127.0.0.1", id="ipv4-upper-case-hex"),
    pytest.param("0177.0.0.1", "127.0.0.1", id="ipv4-octal-part"),
    pytest.param("0x7f.1", "127.0.0.1", id="ipv4-hex-part-short"),
    pytest.param("0x7f.0x0.0x0.0x1", "127.0.0.1", id="ipv4-all-hex-parts"),
    pytest.param("0x", "0.0.0.0", id="ipv4-bare-0x-is-zero"),
    pytest.param("4294967295", "255.255.255.255", id="ipv4-largest-number"),
    pytest.param(full_width("127.0.0.1"), "127.0.0.1", id="ipv4-full-width-digits-and-dots"),
    # IPv6: compressed, no brackets, no zone.
    pytest.param("::1", "::1", id="ipv6-bare"),
    pytest.param("[::1]", "::1", id="ipv6-brackets-removed"),
    pytest.param("[0:0:0:0:0:0:0:1]", "::1", id="ipv6-compressed"),
    pytest.param("[2606:4700:0000::1111]", "2606:4700::1111", id="ipv6-leading-zeros"),
    pytest.param("[2001:DB8::A]", "2001:db8::a", id="ipv6-upper-case"),
    pytest.param("[::ffff:127.0.0.1]", "::ffff:7f00:1", id="ipv6-mapped-dotted"),
    pytest.param("::ffff:7f00:1", "::ffff:7f00:1", id="ipv6-mapped-hex"),
    pytest.param("fe80::1%eth0", "fe80::1", id="ipv6-zone-dropped"),
    pytest.param("[fe80::1%25eth0]", "fe80::1", id="ipv6-bracketed-zone-rfc6874-dropped"),
]


@pytest.mark.parametrize(("raw", "expected"), NORMALISED)
def test_normalise_host(raw: str, expected: str) -> None:
    assert normalise_host(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), NORMALISED)
def test_normalise_host_is_idempotent(raw: str, expected: str) -> None:
    assert normalise_host(normalise_host(raw)) == expected


# --- normalise_host: refused ---------------------------------------------------------------

REFUSED = [
    pytest.param("", "empty", id="empty"),
    pytest.param(" example.com", "whitespace", id="leading-space"),
    pytest.param("example.com ", "whitespace", id="trailing-space"),
    pytest.param("exa mple.com", "whitespace", id="inner-space"),
    pytest.param("example.com\t", "whitespace", id="tab"),
    pytest.param("example.com\x00.evil.test", "control", id="nul-byte"),
    pytest.param("exa\u00admple.com", "invisible", id="soft-hyphen"),
    pytest.param("exa\u200bmple.com", "invisible", id="zero-width-space"),
    pytest.param("user@example.com", "userinfo", id="userinfo"),
    pytest.param("example.com@evil.test", "userinfo", id="userinfo-after-allowed-name"),
    pytest.param("evil\uff20example.com", "userinfo", id="full-width-at-sign"),
    pytest.param("example.com/path", "without a scheme or path", id="slash"),
    pytest.param("example.com\\evil.test", "must not contain '\\'", id="backslash"),
    pytest.param("*.example.com", "wildcards belong in host patterns", id="wildcard"),
    pytest.param("example.com:443", "without a port", id="port"),
    pytest.param("example.com\uff1a443", "without a port", id="full-width-colon"),
    pytest.param("[::1]:443", "without a port", id="bracketed-ipv6-with-port"),
    pytest.param("exa%6dple.com", "zone id", id="percent-encoded-name"),
    pytest.param("example.com..", "two dots", id="two-trailing-dots"),
    pytest.param(".", "no name", id="lone-dot"),
    pytest.param("a..example.com", "empty label", id="empty-label"),
    pytest.param(".example.com", "empty label", id="leading-dot"),
    pytest.param("-a.example.com", "'-'", id="label-starts-with-hyphen"),
    pytest.param("a-.example.com", "'-'", id="label-ends-with-hyphen"),
    pytest.param("a" * 64 + ".com", "at most 63", id="label-of-64"),
    pytest.param(".".join(["a" * 63] * 4), "at most 253", id="name-over-253"),
    pytest.param("exa$mple.com", "'$'", id="dollar-sign"),
    pytest.param("exa[mple.com", "'['", id="stray-bracket"),
    pytest.param("256.0.0.1", "out of range", id="ipv4-first-part-overflow"),
    pytest.param("1.2.3.256", "out of range", id="ipv4-last-part-overflow"),
    pytest.param("4294967296", "out of range", id="ipv4-number-overflow"),
    pytest.param("127.16777216", "out of range", id="ipv4-short-form-overflow"),
    pytest.param("0x1" + "0" * 40, "out of range", id="ipv4-huge-hex"),
    pytest.param("1.2.3.4.5", "at most 4", id="ipv4-five-parts"),
    pytest.param("08.0.0.1", "'08' is not a number", id="ipv4-bad-octal"),
    pytest.param("example.123", "ends in a number", id="last-label-number-name"),
    pytest.param("example.0x1f", "ends in a number", id="last-label-hex-name"),
    pytest.param("1..2.3", "empty label", id="ipv4-empty-part"),
    pytest.param("[::1", "'['", id="ipv6-unclosed-bracket"),
    pytest.param("1::2::3", "not a valid IPv6", id="ipv6-two-double-colons"),
    pytest.param("[::ffff:127.1]", "not a valid IPv6", id="ipv6-short-embedded-ipv4"),
    pytest.param("fe80::1%", "zone id", id="ipv6-empty-zone"),
    pytest.param("fe80::1%eth/0", "'/'", id="ipv6-zone-with-slash"),
    pytest.param("fe80::1%eth%0", "zone id", id="ipv6-zone-with-percent"),
    pytest.param("x" * 2000, "at most 253", id="hostile-length"),
]


@pytest.mark.parametrize(("raw", "fragment"), REFUSED)
def test_normalise_host_refuses(raw: str, fragment: str) -> None:
    with pytest.raises(HostError) as excinfo:
        normalise_host(raw)
    assert fragment in str(excinfo.value)


def test_host_error_is_a_value_error() -> None:
    # mitmproxy-style option parsing catches ValueError; HostError must be one.
    assert issubclass(HostError, ValueError)


# --- parse_ip_literal ----------------------------------------------------------------------

LITERALS = [
    pytest.param("example.com", None, id="name-is-not-a-literal"),
    pytest.param("xn--bcher-kva.example", None, id="punycode-name-is-not-a-literal"),
    pytest.param("example.0x1g", None, id="not-hex-last-label-is-a-name"),
    pytest.param("127.0.0.1", IPv4Address("127.0.0.1"), id="ipv4"),
    pytest.param("127.0.0.1.", IPv4Address("127.0.0.1"), id="ipv4-trailing-dot"),
    pytest.param("0x7f.1", IPv4Address("127.0.0.1"), id="ipv4-hex-short"),
    pytest.param("0177.0.0.1", IPv4Address("127.0.0.1"), id="ipv4-octal"),
    pytest.param("2130706433", IPv4Address("127.0.0.1"), id="ipv4-decimal"),
    pytest.param("[::1]", IPv6Address("::1"), id="ipv6-bracketed"),
    pytest.param("::ffff:7f00:1", IPv6Address("::ffff:127.0.0.1"), id="ipv6-mapped"),
    pytest.param("[fe80::1%25eth0]", IPv6Address("fe80::1"), id="ipv6-zone-dropped"),
]


@pytest.mark.parametrize(("host", "expected"), LITERALS)
def test_parse_ip_literal(host: str, expected: IPv4Address | IPv6Address | None) -> None:
    address = parse_ip_literal(host)
    assert address == expected
    assert is_ip_literal(host) is (expected is not None)
    if isinstance(address, IPv6Address):
        assert address.scope_id is None


@pytest.mark.parametrize(
    "host", ["256.1.1.1", "4294967296", "1.2.3.4.5", "1::2::3", "[::1", "127.0.0.1 "]
)
def test_parse_ip_literal_refuses_malformed_literals(host: str) -> None:
    with pytest.raises(HostError):
        parse_ip_literal(host)


# Every spelling the C library turns into an address must be the same address for us; otherwise a
# host we judged as a name could be dialled as an address. inet_aton is pure: nothing is sent.
INET_ATON_SPELLINGS = [
    "127.1", "127.0.1", "0x7f.1", "0X7F.0.0.1", "0177.0.0.1", "2130706433", "0x7f000001",
    "017777777777", "4294967295", "0xffffffff", "169.254.43518", "0xa9.0xfe.0xa9.0xfe",
    "0251.0376.0251.0376", "0" * 30 + "177.1", "10.0x0.00.1",
]  # fmt: skip


@pytest.mark.parametrize("spelling", INET_ATON_SPELLINGS)
def test_ipv4_spellings_agree_with_inet_aton(spelling: str) -> None:
    expected = socket.inet_ntoa(socket.inet_aton(spelling))
    assert str(parse_ip_literal(spelling)) == expected
    assert normalise_host(spelling) == expected


# --- HostPattern.parse ---------------------------------------------------------------------

PATTERNS = [
    pytest.param("github.com", "github.com", False, id="exact"),
    pytest.param("GitHub.COM.", "github.com", False, id="exact-normalised"),
    pytest.param("*.github.com", "*.github.com", True, id="suffix"),
    pytest.param("*.GitHub.COM.", "*.github.com", True, id="suffix-normalised"),
    pytest.param("*.bücher.example", "*.xn--bcher-kva.example", True, id="suffix-idn"),
    pytest.param("localhost", "localhost", False, id="exact-single-label"),
]


@pytest.mark.parametrize(("text", "shown", "suffix"), PATTERNS)
def test_host_pattern_parse(text: str, shown: str, suffix: bool) -> None:
    pattern = HostPattern.parse(text)
    assert (pattern.text, pattern.suffix, pattern.base) == (shown, suffix, shown.removeprefix("*."))
    assert str(pattern) == shown


PATTERN_REFUSED = [
    pytest.param("*", "every host", id="lone-star"),
    pytest.param("**", "'**'", id="double-star"),
    pytest.param("**.github.com", "did you mean '*.github.com'?", id="double-star-prefix"),
    pytest.param(
        "*github.com",
        "did you mean '*.github.com' for its subdomains, plus 'github.com' for the apex?",
        id="partial-leading-wildcard",
    ),
    pytest.param("*x.com", "did you mean '*.x.com'", id="partial-wildcard-short"),
    pytest.param(".github.com", "did you mean '*.github.com'?", id="leading-dot"),
    pytest.param("api*.x.com", "did you mean '*.x.com'?", id="wildcard-inside-label"),
    pytest.param("a.*.x.com", "did you mean '*.x.com'?", id="wildcard-in-middle-label"),
    pytest.param("*.*.x.com", "did you mean '*.x.com'?", id="two-wildcards"),
    pytest.param("x.com*", "list the hosts instead", id="trailing-wildcard"),
    pytest.param("*.com", "top-level domain 'com'", id="wildcard-over-tld"),
    pytest.param("*.test", "top-level domain 'test'", id="wildcard-over-single-label"),
    pytest.param("10.0.0.1", "CIDR rules (for example '10.0.0.1/32'", id="ipv4-literal"),
    pytest.param("0x7f.1", "'127.0.0.1/32'", id="ipv4-literal-odd-spelling"),
    pytest.param("[::1]", "'::1/128'", id="ipv6-literal"),
    pytest.param("*.10.0.0.1", "CIDR rules", id="wildcard-over-ip"),
    pytest.param("", "empty", id="empty"),
    pytest.param("git hub.com", "whitespace", id="whitespace"),
    pytest.param("user@github.com", "userinfo", id="userinfo"),
    pytest.param("github.com:443", "without a port", id="port"),
    pytest.param("github.com/", "path", id="path"),
]


@pytest.mark.parametrize(("text", "fragment"), PATTERN_REFUSED)
def test_host_pattern_parse_refuses_with_a_fix(text: str, fragment: str) -> None:
    with pytest.raises(HostError) as excinfo:
        HostPattern.parse(text)
    assert fragment in str(excinfo.value)


def test_host_pattern_cannot_be_built_inconsistent() -> None:
    with pytest.raises(HostError):
        HostPattern(text="*.github.com", suffix=False, base="github.com")


# --- HostPattern.matches (requests normalised first, as decide does) -----------------------

MATCHES = [
    pytest.param("*.x.com", "a.x.com", True, id="suffix-matches-subdomain"),
    pytest.param("*.x.com", "a.b.x.com", True, id="suffix-matches-deep-subdomain"),
    pytest.param("*.x.com", "x.com", False, id="suffix-not-apex"),
    pytest.param("*.x.com", "ax.com", False, id="suffix-not-longer-name"),
    pytest.param("*.x.com", "x.com.evil.test", False, id="suffix-not-prefix-of-other-name"),
    pytest.param("*.github.com", "github.com.evil.test", False, id="suffix-not-evil-suffix"),
    pytest.param("*.github.com", "evilgithub.com", False, id="suffix-not-glued-name"),
    pytest.param("*.github.com", "API.GitHub.COM.", True, id="suffix-request-case-and-dot"),
    pytest.param("*.github.com", "evil.github.co", False, id="suffix-not-other-tld"),
    pytest.param("github.com", "github.com", True, id="exact-matches-itself"),
    pytest.param("github.com", "GitHub.COM.", True, id="exact-request-case-and-dot"),
    pytest.param("github.com", "evilgithub.com", False, id="exact-not-glued-name"),
    pytest.param("github.com", "github.com.evil.test", False, id="exact-not-evil-suffix"),
    pytest.param("github.com", "api.github.com", False, id="exact-not-subdomain"),
    pytest.param("github.com", "github.co", False, id="exact-not-shorter"),
    pytest.param("bücher.example", "xn--bcher-kva.example", True, id="idn-rule-punycode-request"),
    pytest.param("xn--bcher-kva.example", "BÜCHER.example", True, id="punycode-rule-idn-request"),
    pytest.param("*.example.com", "a.example。com", True, id="full-width-dot-request"),
]


@pytest.mark.parametrize(("pattern", "request_host", "expected"), MATCHES)
def test_host_pattern_matches(pattern: str, request_host: str, expected: bool) -> None:
    assert HostPattern.parse(pattern).matches(normalise_host(request_host)) is expected
