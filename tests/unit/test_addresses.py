"""Tables for address classification. Classification only: nothing here sends traffic anywhere."""

from __future__ import annotations

import random
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from proxy.netsafety.addresses import (
    LIFTABLE,
    METADATA_ADDRESSES,
    AddressClass,
    classify_address,
    effective_address,
    embedded_ipv4,
)
from proxy.policy.hosts import parse_ip_literal

C = AddressClass

# Teredo rows: server 65.54.35.120, client = last 32 bits XOR 0xffffffff. Read without the XOR,
# 80ff:fffe would be 128.255.255.254 (public): the loopback row fails if the XOR is forgotten.
TEREDO_LOOPBACK = "2001:0:4136:2378:8000:63bf:80ff:fffe"  # client 127.0.0.1
TEREDO_PRIVATE = "2001:0:4136:2378:8000:63bf:f5ff:fffe"  # client 10.0.0.1
TEREDO_METADATA = "2001:0:4136:2378:8000:63bf:5601:5601"  # client 169.254.169.254
TEREDO_PUBLIC = "2001:0:4136:2378:8000:63bf:f7f7:f7f7"  # client 8.8.8.8

CLASSIFIED = [
    # public
    pytest.param("8.8.8.8", C.PUBLIC, id="v4-public-google-dns"),
    pytest.param("1.1.1.1", C.PUBLIC, id="v4-public-cloudflare-dns"),
    pytest.param("2606:4700::1111", C.PUBLIC, id="v6-public-cloudflare"),
    pytest.param("2a00:1450:4001::1", C.PUBLIC, id="v6-public-global-unicast"),
    # loopback
    pytest.param("127.0.0.1", C.LOOPBACK, id="v4-loopback"),
    pytest.param("127.255.255.254", C.LOOPBACK, id="v4-loopback-top-of-range"),
    pytest.param("::1", C.LOOPBACK, id="v6-loopback"),
    # RFC 1918 and its edges
    pytest.param("10.0.0.1", C.PRIVATE, id="v4-rfc1918-10"),
    pytest.param("192.168.1.1", C.PRIVATE, id="v4-rfc1918-192-168"),
    pytest.param("172.15.255.255", C.PUBLIC, id="v4-below-172-16-is-public"),
    pytest.param("172.16.0.0", C.PRIVATE, id="v4-172-16-first"),
    pytest.param("172.31.255.255", C.PRIVATE, id="v4-172-16-last"),
    pytest.param("172.32.0.0", C.PUBLIC, id="v4-above-172-31-is-public"),
    # link-local
    pytest.param("169.254.1.1", C.LINK_LOCAL, id="v4-link-local"),
    pytest.param("fe80::1", C.LINK_LOCAL, id="v6-link-local"),
    # CGNAT and its edges
    pytest.param("100.63.255.255", C.PUBLIC, id="v4-below-cgnat-is-public"),
    pytest.param("100.64.0.0", C.CGNAT, id="v4-cgnat-first"),
    pytest.param("100.127.255.255", C.CGNAT, id="v4-cgnat-last"),
    pytest.param("100.128.0.0", C.PUBLIC, id="v4-above-cgnat-is-public"),
    # unique local
    pytest.param("fc00::1", C.UNIQUE_LOCAL, id="v6-ula-fc"),
    pytest.param("fd12::1", C.UNIQUE_LOCAL, id="v6-ula-fd"),
    # multicast, broadcast, unspecified
    pytest.param("224.0.0.1", C.MULTICAST, id="v4-multicast"),
    pytest.param("239.255.255.250", C.MULTICAST, id="v4-multicast-ssdp"),
    pytest.param("ff02::1", C.MULTICAST, id="v6-multicast"),
    pytest.param("255.255.255.255", C.BROADCAST, id="v4-broadcast"),
    pytest.param("0.0.0.0", C.UNSPECIFIED, id="v4-unspecified"),
    pytest.param("::", C.UNSPECIFIED, id="v6-unspecified"),
    # reserved
    pytest.param("0.0.0.1", C.RESERVED, id="v4-this-network"),
    pytest.param("192.0.2.1", C.RESERVED, id="v4-documentation-test-net-1"),
    pytest.param("198.51.100.1", C.RESERVED, id="v4-documentation-test-net-2"),
    pytest.param("203.0.113.1", C.RESERVED, id="v4-documentation-test-net-3"),
    pytest.param("198.18.0.1", C.RESERVED, id="v4-benchmarking"),
    pytest.param("192.0.0.8", C.RESERVED, id="v4-ietf-protocol-assignments"),
    pytest.param("192.88.99.1", C.RESERVED, id="v4-6to4-relay-anycast"),
    pytest.param("240.0.0.1", C.RESERVED, id="v4-future-use"),
    pytest.param("255.255.255.254", C.RESERVED, id="v4-future-use-below-broadcast"),
    pytest.param("2001:db8::1", C.RESERVED, id="v6-documentation"),
    pytest.param("3fff::1", C.RESERVED, id="v6-documentation-3fff"),
    pytest.param("100::1", C.RESERVED, id="v6-discard-only"),
    pytest.param("fec0::1", C.RESERVED, id="v6-site-local"),
    pytest.param("2001:10::1", C.RESERVED, id="v6-orchid"),
    pytest.param("5f00::1", C.RESERVED, id="v6-srv6"),
    pytest.param("4000::1", C.RESERVED, id="v6-outside-global-unicast"),
    # metadata, v4 and v6; wins over link-local, CGNAT, ULA and public
    pytest.param("169.254.169.254", C.METADATA, id="v4-metadata-imds"),
    pytest.param("169.254.170.2", C.METADATA, id="v4-metadata-ecs"),
    pytest.param("169.254.169.253", C.METADATA, id="v4-metadata-aws-dns"),
    pytest.param("169.254.169.123", C.METADATA, id="v4-metadata-aws-time"),
    pytest.param("100.100.100.200", C.METADATA, id="v4-metadata-alibaba-over-cgnat"),
    pytest.param("192.0.0.192", C.METADATA, id="v4-metadata-oracle-over-reserved"),
    pytest.param("fd00:ec2::254", C.METADATA, id="v6-metadata-aws-imds"),
    pytest.param("fd00:ec2::23", C.METADATA, id="v6-metadata-aws-pod-identity"),
    pytest.param("fd00:ec2::123", C.METADATA, id="v6-metadata-aws-time"),
    pytest.param("fd20:ce::254", C.METADATA, id="v6-metadata-gcp"),
    pytest.param("fd00:ec2::255", C.UNIQUE_LOCAL, id="v6-next-to-metadata-is-ula"),
    # IPv4 hidden in IPv6: the hidden address decides
    pytest.param("::ffff:127.0.0.1", C.LOOPBACK, id="mapped-loopback"),
    pytest.param("::ffff:10.0.0.1", C.PRIVATE, id="mapped-private"),
    pytest.param("::ffff:169.254.169.254", C.METADATA, id="mapped-metadata"),
    pytest.param("::ffff:8.8.8.8", C.PUBLIC, id="mapped-public"),
    pytest.param("::ffff:0.0.0.0", C.UNSPECIFIED, id="mapped-unspecified"),
    pytest.param("::127.0.0.1", C.LOOPBACK, id="compatible-loopback"),
    pytest.param("::169.254.169.254", C.METADATA, id="compatible-metadata"),
    pytest.param("::ffff:0:127.0.0.1", C.LOOPBACK, id="translated-loopback"),
    pytest.param("::ffff:0:a9fe:a9fe", C.METADATA, id="translated-metadata"),
    pytest.param("64:ff9b::a00:1", C.PRIVATE, id="nat64-well-known-private"),
    pytest.param("64:ff9b::a9fe:a9fe", C.METADATA, id="nat64-well-known-metadata"),
    pytest.param("64:ff9b::808:808", C.PUBLIC, id="nat64-well-known-public"),
    # 64:ff9b:1::/48 at any RFC 6052 length: reserved, metadata if any reading is (red team)
    pytest.param("64:ff9b:1::7f00:1", C.RESERVED, id="nat64-local-use-loopback-at-96"),
    pytest.param("64:ff9b:1:ab::6464:64c8", C.METADATA, id="nat64-local-use-metadata-alibaba"),
    pytest.param("64:ff9b:1::a9fe:a9fe", C.METADATA, id="nat64-local-use-metadata-at-96"),
    pytest.param("64:ff9b:1:a9fe:a9:fe00:101:101", C.METADATA, id="nat64-local-use-metadata-at-48"),
    pytest.param("64:ff9b:1:a9:fe:a9fe::", C.METADATA, id="nat64-local-use-metadata-at-56"),
    pytest.param("64:ff9b:1:0:a9:fea9:fe00:0", C.METADATA, id="nat64-local-use-metadata-at-64"),
    pytest.param("64:ff9b:1:7f00:0:100:808:808", C.RESERVED, id="nat64-local-use-loopback-at-48"),
    pytest.param("64:ff9b:1::808:808", C.RESERVED, id="nat64-local-use-public-at-96"),
    pytest.param("64:ff9b:2::808:808", C.RESERVED, id="near-miss-outside-nat64-local-use"),
    pytest.param("2002:7f00:1::", C.LOOPBACK, id="6to4-loopback"),
    pytest.param("2002:a9fe:a9fe::1", C.METADATA, id="6to4-metadata"),
    pytest.param("2002:c0a8:101::1", C.PRIVATE, id="6to4-private"),
    pytest.param("2002:808:808::1", C.PUBLIC, id="6to4-public"),
    pytest.param(TEREDO_LOOPBACK, C.LOOPBACK, id="teredo-loopback-xor"),
    pytest.param(TEREDO_PRIVATE, C.PRIVATE, id="teredo-private-xor"),
    pytest.param(TEREDO_METADATA, C.METADATA, id="teredo-metadata-xor"),
    pytest.param(TEREDO_PUBLIC, C.PUBLIC, id="teredo-public"),
    # a zone id names an interface; it does not change what the address is
    pytest.param("fd00:ec2::254%eth0", C.METADATA, id="scoped-metadata"),
    pytest.param("fe80::1%eth0", C.LINK_LOCAL, id="scoped-link-local"),
]


@pytest.mark.parametrize(("text", "expected"), CLASSIFIED)
def test_classify_address(text: str, expected: AddressClass) -> None:
    assert classify_address(ip_address(text)) is expected


@pytest.mark.parametrize("address", sorted(METADATA_ADDRESSES, key=str), ids=str)
def test_every_metadata_address_is_metadata_also_when_mapped(
    address: IPv4Address | IPv6Address,
) -> None:
    assert classify_address(address) is C.METADATA
    if isinstance(address, IPv4Address):
        mapped = IPv6Address(f"::ffff:{address}")
        nat64 = IPv6Address(f"64:ff9b::{address}")
        assert classify_address(mapped) is C.METADATA
        assert classify_address(nat64) is C.METADATA


def _samples() -> list[IPv4Address | IPv6Address]:
    rng = random.Random(20240601)  # fixed: the same addresses on every run
    samples: list[IPv4Address | IPv6Address] = []
    samples += [IPv4Address(rng.getrandbits(32)) for _ in range(20_000)]
    samples += [IPv6Address(rng.getrandbits(128)) for _ in range(5_000)]
    # Random IPv6 is almost never in 2000::/3; sample global unicast on purpose as well.
    samples += [IPv6Address((0b001 << 125) | rng.getrandbits(125)) for _ in range(20_000)]
    return samples


def test_nothing_ipaddress_calls_special_is_public() -> None:
    """A cross-check against the standard library's own tables: we may be stricter, never laxer."""
    laxer = [
        address
        for address in _samples()
        if classify_address(address) is C.PUBLIC
        and (address.is_reserved or address.is_private or not address.is_global)
        # Hidden IPv4 is judged by that IPv4; older ipaddress calls all of ::ffff:0:0/96 private.
        and not (isinstance(address, IPv6Address) and embedded_ipv4(address) is not None)
    ]
    assert laxer == []


# --- embedded_ipv4 -------------------------------------------------------------------------

EMBEDDED = [
    pytest.param("::ffff:169.254.169.254", "169.254.169.254", id="mapped"),
    pytest.param("::10.0.0.1", "10.0.0.1", id="compatible"),
    pytest.param("::ffff:0:10.0.0.1", "10.0.0.1", id="translated"),
    pytest.param("64:ff9b::10.0.0.1", "10.0.0.1", id="nat64-well-known"),
    # no one reading: see nat64_local_readings
    pytest.param("64:ff9b:1:ab:cd::a00:1", None, id="nat64-local-use-has-no-single-reading"),
    pytest.param("2002:a00:1::1", "10.0.0.1", id="6to4-bits-16-to-48"),
    pytest.param(TEREDO_LOOPBACK, "127.0.0.1", id="teredo-client-xor"),
    pytest.param("::", None, id="unspecified-is-not-compatible"),
    pytest.param("::1", None, id="loopback-is-not-compatible"),
    pytest.param("2606:4700::1111", None, id="plain-global"),
    pytest.param("64:ff9b:2::a00:1", None, id="outside-nat64-local-use"),
    pytest.param("fe80::a00:1", None, id="link-local-not-embedded"),
]


@pytest.mark.parametrize(("text", "expected"), EMBEDDED)
def test_embedded_ipv4(text: str, expected: str | None) -> None:
    found = embedded_ipv4(IPv6Address(text))
    assert found == (IPv4Address(expected) if expected is not None else None)


EFFECTIVE = [
    pytest.param("::ffff:10.1.2.3", "10.1.2.3", id="mapped-becomes-ipv4"),
    pytest.param("64:ff9b::a01:203", "10.1.2.3", id="nat64-becomes-ipv4"),
    pytest.param("10.1.2.3", "10.1.2.3", id="ipv4-unchanged"),
    pytest.param("fd12::1", "fd12::1", id="plain-ipv6-unchanged"),
    pytest.param("fe80::1%eth0", "fe80::1", id="zone-dropped"),
]


@pytest.mark.parametrize(("text", "expected"), EFFECTIVE)
def test_effective_address(text: str, expected: str) -> None:
    result = effective_address(ip_address(text))
    assert result == ip_address(expected)
    assert str(result) == expected


# --- hosts as written by a client, all the way to a class ----------------------------------

FROM_HOSTS = [
    pytest.param("0x7f.1", C.LOOPBACK, id="hex-short-loopback"),
    pytest.param("2130706433", C.LOOPBACK, id="decimal-loopback"),
    pytest.param("0177.0.0.1", C.LOOPBACK, id="octal-loopback"),
    pytest.param("[::ffff:a9fe:a9fe]", C.METADATA, id="bracketed-mapped-metadata"),
    pytest.param("2852039166", C.METADATA, id="decimal-metadata"),
    pytest.param("0xa9fea9fe", C.METADATA, id="hex-metadata"),
    pytest.param("169.254.43518", C.METADATA, id="short-form-metadata"),
    pytest.param("[fd00:ec2::254%25eth0]", C.METADATA, id="zoned-v6-metadata"),
    pytest.param("0", C.UNSPECIFIED, id="zero-is-unspecified"),
    pytest.param("[::]", C.UNSPECIFIED, id="v6-unspecified"),
    pytest.param("10.1", C.PRIVATE, id="short-private"),
    pytest.param("8.8.8.8", C.PUBLIC, id="public"),
]


@pytest.mark.parametrize(("host", "expected"), FROM_HOSTS)
def test_parsed_literal_is_classified(host: str, expected: AddressClass) -> None:
    address = parse_ip_literal(host)
    assert address is not None
    assert classify_address(address) is expected


# --- what an operator may open ---------------------------------------------------------------


def test_liftable_classes() -> None:
    expected = {C.LOOPBACK, C.PRIVATE, C.LINK_LOCAL, C.CGNAT, C.UNIQUE_LOCAL, C.RESERVED}
    assert expected == LIFTABLE
    for never in (C.METADATA, C.UNSPECIFIED, C.MULTICAST, C.BROADCAST, C.PUBLIC):
        assert never not in LIFTABLE
