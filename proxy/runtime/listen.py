"""Parsing `HOST:PORT` listen specifications."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from proxy.policy.model import IPAddress


@dataclass(frozen=True)
class ListenAddress:
    host: str
    port: int

    @property
    def address(self) -> IPAddress:
        return ipaddress.ip_address(self.host)


def parse_listen(text: str) -> ListenAddress:
    """'127.0.0.1:8080', '[::1]:8080' or '0.0.0.0:8080'; an IP address, not a name."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"listen host must be an IP address, got {host!r}") from None
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"port out of range in {text!r}")
    return ListenAddress(host, port)
