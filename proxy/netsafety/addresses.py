"""What an address is: public, or a class a sandbox must not reach without an explicit exception.

Adds what `ipaddress` does not name: CGNAT, cloud metadata, IPv4 hidden in IPv6 (NAT64, 6to4...).
"""

from __future__ import annotations

from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network


class AddressClass(StrEnum):
    PUBLIC = "public"
    LOOPBACK = "loopback"
    PRIVATE = "private"  # RFC 1918
    LINK_LOCAL = "link_local"
    METADATA = "metadata"  # cloud instance services: credentials, DNS, time
    CGNAT = "cgnat"  # RFC 6598 shared address space
    UNIQUE_LOCAL = "unique_local"  # RFC 4193
    MULTICAST = "multicast"
    UNSPECIFIED = "unspecified"
    BROADCAST = "broadcast"
    RESERVED = "reserved"  # documentation, benchmarking, future use, deprecated, not routed


# Classes an operator's `allow_private` CIDR may open. Metadata hands out credentials; unspecified,
# multicast and broadcast are not one destination. None of these is ever liftable.
LIFTABLE: frozenset[AddressClass] = frozenset(
    {
        AddressClass.LOOPBACK,
        AddressClass.PRIVATE,
        AddressClass.LINK_LOCAL,
        AddressClass.CGNAT,
        AddressClass.UNIQUE_LOCAL,
        AddressClass.RESERVED,
    }
)

# Instance services of cloud providers. METADATA wins over every other class, so an operator who
# opens 169.254.0.0/16 or fd00::/8 for a local service still cannot open these.
METADATA_ADDRESSES: frozenset[IPv4Address | IPv6Address] = frozenset(
    {
        # IMDS of AWS, GCP, Azure, Oracle, DigitalOcean, OpenStack, IBM, Linode, Hetzner.
        IPv4Address("169.254.169.254"),
        # AWS ECS task metadata and credentials endpoint.
        IPv4Address("169.254.170.2"),
        # AWS EKS Pod Identity Agent, which hands pods their credentials (EKS user guide).
        IPv4Address("169.254.170.23"),
        IPv6Address("fd00:ec2::23"),
        # AWS Route 53 Resolver and Time Sync on the link-local and Nitro IPv6 addresses.
        IPv4Address("169.254.169.253"),
        IPv6Address("fd00:ec2::253"),
        IPv4Address("169.254.169.123"),
        IPv6Address("fd00:ec2::123"),
        # AWS IMDS over IPv6 on Nitro instances.
        IPv6Address("fd00:ec2::254"),
        # GCP metadata server for IPv6-only instances.
        IPv6Address("fd20:ce::254"),
        # OpenStack Neutron metadata over IPv6 (the IPv6 twin of 169.254.169.254).
        IPv6Address("fe80::a9fe:a9fe"),
        # Tencent Cloud CVM metadata (metadata.tencentyun.com; also what datadog-agent queries).
        IPv4Address("169.254.0.23"),
        # Alibaba Cloud ECS metadata.
        IPv4Address("100.100.100.200"),
        # Oracle Cloud Infrastructure legacy (Classic) metadata.
        IPv4Address("192.0.0.192"),
        # Azure WireServer: a public-looking virtual IP that only answers from inside Azure.
        IPv4Address("168.63.129.16"),
    }
)


def _v4(*entries: tuple[str, AddressClass]) -> tuple[tuple[int, int, AddressClass], ...]:
    networks = ((IPv4Network(cidr), cls) for cidr, cls in entries)
    return tuple((int(n.network_address), int(n.netmask), cls) for n, cls in networks)


def _v6(*entries: tuple[str, AddressClass]) -> tuple[tuple[int, int, AddressClass], ...]:
    networks = ((IPv6Network(cidr), cls) for cidr, cls in entries)
    return tuple((int(n.network_address), int(n.netmask), cls) for n, cls in networks)


_RESERVED = AddressClass.RESERVED

# First match wins, so a narrow range comes before the wider one it sits in. Together the tables
# cover every range of the IANA special-purpose registries that is not globally reachable.
_IPV4_TABLE = _v4(
    ("0.0.0.0/32", AddressClass.UNSPECIFIED),
    ("0.0.0.0/8", _RESERVED),  # "this network"
    ("127.0.0.0/8", AddressClass.LOOPBACK),
    ("10.0.0.0/8", AddressClass.PRIVATE),
    ("172.16.0.0/12", AddressClass.PRIVATE),
    ("192.168.0.0/16", AddressClass.PRIVATE),
    ("169.254.0.0/16", AddressClass.LINK_LOCAL),
    ("100.64.0.0/10", AddressClass.CGNAT),
    ("224.0.0.0/4", AddressClass.MULTICAST),
    ("255.255.255.255/32", AddressClass.BROADCAST),
    ("240.0.0.0/4", _RESERVED),  # future use
    ("192.0.0.0/24", _RESERVED),  # IETF protocol assignments
    ("192.0.2.0/24", _RESERVED),  # TEST-NET-1
    ("198.51.100.0/24", _RESERVED),  # TEST-NET-2
    ("203.0.113.0/24", _RESERVED),  # TEST-NET-3
    ("198.18.0.0/15", _RESERVED),  # benchmarking
    ("192.88.99.0/24", _RESERVED),  # deprecated 6to4 relay anycast
)

_IPV6_TABLE = _v6(
    ("::/128", AddressClass.UNSPECIFIED),
    ("::1/128", AddressClass.LOOPBACK),
    ("ff00::/8", AddressClass.MULTICAST),
    ("fe80::/10", AddressClass.LINK_LOCAL),
    ("fec0::/10", _RESERVED),  # deprecated site-local
    ("fc00::/7", AddressClass.UNIQUE_LOCAL),
    ("100::/64", _RESERVED),  # discard-only
    ("5f00::/16", _RESERVED),  # SRv6 SIDs
    # Only 2000::/3 is allocated for global unicast; the rest is what ipaddress calls reserved.
    ("::/3", _RESERVED),
    ("4000::/2", _RESERVED),
    ("8000::/1", _RESERVED),
    ("2001:db8::/32", _RESERVED),  # documentation
    ("3fff::/20", _RESERVED),  # documentation
    ("2001:10::/28", _RESERVED),  # ORCHID (deprecated)
    ("2001:2::/48", _RESERVED),  # benchmarking
    # IETF protocol assignments. Teredo (2001::/32) inside it is classified by its client address
    # before this table is consulted.
    ("2001::/23", _RESERVED),
)

_ALL_32 = 0xFFFFFFFF
_NAT64_WELL_KNOWN = int(IPv6Address("64:ff9b::")) >> 32  # 64:ff9b::/96, RFC 6052
_NAT64_LOCAL = int(IPv6Address("64:ff9b:1::")) >> 80  # 64:ff9b:1::/48, RFC 8215
_IPV4_TRANSLATED = int(IPv6Address("::ffff:0:0:0")) >> 32  # ::ffff:0:0:0/96, RFC 2765 (SIIT)


def embedded_ipv4(addr: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address carries, where the packet may end up; None if none.

    Any of these can reach an IPv4 host through a translator or tunnel, so each must be judged by
    the IPv4 address it hides.
    """
    value = int(addr)
    top96 = value >> 32
    mapped = addr.ipv4_mapped  # ::ffff:0:0/96
    if mapped is not None:
        return mapped
    if top96 in (_IPV4_TRANSLATED, _NAT64_WELL_KNOWN):
        return IPv4Address(value & _ALL_32)
    if top96 == 0 and value > 1:  # IPv4-compatible ::/96 (deprecated), but not :: and ::1
        return IPv4Address(value)
    if addr.sixtofour is not None:  # 2002::/16, IPv4 in bits 16..48
        return addr.sixtofour
    if addr.teredo is not None:  # 2001::/32, client address XOR-ed with all ones
        return addr.teredo[1]
    return None


def nat64_local_readings(addr: IPv6Address) -> tuple[IPv4Address, ...]:
    """The IPv4 addresses an address in 64:ff9b:1::/48 may carry, one per RFC 6052 prefix
    length (/32 to /96; bits 64 to 71 are never part of it); empty outside that prefix.

    RFC 8215 lets a network use its local-use prefix at any of those lengths, and which one a
    translator uses is the network's choice, unknown here: 64:ff9b:1:a9fe:a9:fe00:101:101 is
    169.254.169.254 at /48 and 1.1.1.1 at /96."""
    if int(addr) >> 80 != _NAT64_LOCAL:
        return ()
    b = addr.packed
    return tuple(IPv4Address(bytes(octets)) for octets in (
        b[4:8], b[5:8] + b[9:10], b[6:8] + b[9:11], b[7:8] + b[9:12], b[9:13], b[12:16]))


def effective_address(addr: IPv4Address | IPv6Address) -> IPv4Address | IPv6Address:
    """The address to compare with allow-lists: the hidden IPv4 when there is one, else `addr`.

    So that an allow-list written as IPv4 CIDRs also applies to the mapped forms; a zone id is
    dropped because it names an interface, not a host.
    """
    if isinstance(addr, IPv4Address):
        return addr
    embedded = embedded_ipv4(addr)
    if embedded is not None:
        return embedded
    return _without_scope(addr)


def classify_address(addr: IPv4Address | IPv6Address) -> AddressClass:
    """The class of an address. For IPv6 carrying an IPv4 address, the class of that IPv4."""
    if isinstance(addr, IPv6Address):
        addr = _without_scope(addr)
    if addr in METADATA_ADDRESSES:
        return AddressClass.METADATA
    if isinstance(addr, IPv4Address):
        return _lookup(int(addr), _IPV4_TABLE)
    if readings := nat64_local_readings(addr):
        # Reserved as a whole (IANA: not globally reachable), whatever it carries; opened only
        # by an allow_private entry naming the IPv6 itself; metadata if any reading is.
        if any(reading in METADATA_ADDRESSES for reading in readings):
            return AddressClass.METADATA
        return _RESERVED
    embedded = embedded_ipv4(addr)
    if embedded is not None:
        # A translator or tunnel delivers to the hidden address: ::ffff:169.254.169.254 is the
        # metadata service, 2002:7f00:1:: is loopback. A public one is public whatever the wrapper.
        return classify_address(embedded)
    return _lookup(int(addr), _IPV6_TABLE)


def _lookup(value: int, table: tuple[tuple[int, int, AddressClass], ...]) -> AddressClass:
    for network, mask, address_class in table:
        if value & mask == network:
            return address_class
    return AddressClass.PUBLIC


def _without_scope(addr: IPv6Address) -> IPv6Address:
    # An IPv6Address with a scope id compares unequal to the same address without one.
    return addr if addr.scope_id is None else IPv6Address(int(addr))
