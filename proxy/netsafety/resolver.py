"""Turn a destination name into the addresses the proxy will check and then dial.

Static `network.hosts` entries come first, then the system resolver. The caller dials exactly what
this returned and was checked: there is no second lookup for DNS rebinding to slip into.

The system resolver appends `resolv.conf`'s search domains to a name with fewer dots than its
`ndots` *before* it asks for the name itself, and Kubernetes sets `ndots:5`: the allowed
`api.example.com` could then be answered as `api.example.com.<search domain>`, an internal name
the rules never allowed (red team, ssrf2). `absolute_names_first` makes a name with a dot be asked
as written first; a single-label name (`intranet`) is still searched first, as its owner meant.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import socket
from collections.abc import Mapping, MutableMapping

from proxy.policy.hosts import parse_ip_literal
from proxy.policy.model import IPAddress

RESOLVE_TIMEOUT_SECONDS = 5.0
MAX_ADDRESSES = 16  # a name with more answers than this is unusual; we check and keep the first 16
RESOLVER_OPTIONS_ENV = "RES_OPTIONS"  # glibc reads it after resolv.conf, at each resolver start
_LOW_NDOTS = re.compile(r"(?:^|\s)ndots:[01](?:\s|$)")


def absolute_names_first(environ: MutableMapping[str, str] = os.environ) -> None:
    """Make the system resolver ask a name with a dot as written before any search domain:
    `ndots:1` in RES_OPTIONS (kept when it already asks for 0 or 1). Call before the first
    lookup: each resolver thread reads the variable when it starts."""
    options = environ.get(RESOLVER_OPTIONS_ENV, "")
    if not _LOW_NDOTS.search(options):
        environ[RESOLVER_OPTIONS_ENV] = f"{options} ndots:1".strip()


class Resolver:
    def __init__(
        self,
        static_hosts: Mapping[str, tuple[IPAddress, ...]],
        *,
        timeout: float = RESOLVE_TIMEOUT_SECONDS,
    ) -> None:
        self._static = static_hosts
        self._timeout = timeout

    async def resolve(self, host: str, port: int) -> tuple[IPAddress, ...]:
        """Addresses for a normalised host; empty when the name does not resolve."""
        literal = parse_ip_literal(host)
        if literal is not None:
            return (literal,)
        static = self._static.get(host)
        if static is not None:
            return static
        return await self._system(host, port)

    async def _system(self, host: str, port: int) -> tuple[IPAddress, ...]:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), self._timeout
            )
        except (OSError, TimeoutError, UnicodeError):
            return ()
        found: list[IPAddress] = []
        for _family, _type, _proto, _canonname, sockaddr in infos:
            # Drop an IPv6 scope id: the classification is about the address, not the interface.
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if address not in found:
                found.append(address)
        return tuple(found[:MAX_ADDRESSES])
