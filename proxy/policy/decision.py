"""The values that go into and come out of `decide`: facts gathered by addons, and the decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from proxy.policy.model import IPAddress
from proxy.policy.reasons import Action, Reason


class Stage(StrEnum):
    """Where in a connection's life the decision is taken."""

    CONNECT = "connect"  # a CONNECT request, before any byte of the tunnel
    REQUEST = "request"  # an HTTP request (plain absolute-form, or inside a tunnel)
    TUNNEL = "tunnel"  # bytes in a tunnel that are not HTTP (raw TCP, or TCP after TLS)
    # an upstream's 101 answer that would switch the connection to a protocol other than
    # WebSocket (h2c, a raw socket): what follows would be relayed as raw TCP
    UPGRADE = "upgrade"


@dataclass(frozen=True, kw_only=True)
class Facts:
    """What an addon saw. Raw strings as the client sent them: `decide` normalises them itself."""

    stage: Stage
    host: str  # the destination: CONNECT target, or the URL host of a plain HTTP request
    port: int
    scheme: str | None = None  # "https" / "http"; None at CONNECT
    method: str | None = None
    path: str | None = None  # the request target's path as sent (a query is ignored)
    # Methods and paths the request names besides its request line, for servers that take them
    # (override headers, `_method`: overrides.py). Entries' methods and paths hold for each.
    override_methods: tuple[str, ...] = ()
    override_paths: tuple[str, ...] = ()
    in_tunnel: bool = False  # the request arrived inside a CONNECT tunnel to `host`
    tunnel_tls: bool = False  # the tunnel carries TLS that we terminated
    sni: str | None = None  # TLS server name the client sent, None if none
    # Every authority the request states: Host headers (all of them), :authority, an absolute-form
    # URL's host inside a tunnel. All must name `host`.
    host_headers: tuple[str, ...] = ()
    # The request is a DNS query (DNS over HTTPS, a resolver's JSON API): dns_over_https.py
    dns_over_https: bool = False
    # Framing characters in the method, target, authority or a header (request_framing.py)
    malformed: bool = False
    # Addresses the proxy resolved for `host` and will dial. None: not resolved yet (decide checks
    # everything else; the caller resolves only an allowed name and asks again).
    addresses: tuple[IPAddress, ...] | None = None
    # (address, port) pairs the proxy listens on: dialling one would loop.
    listen_addresses: frozenset[tuple[IPAddress, int]] = field(default_factory=frozenset)


@dataclass(frozen=True, kw_only=True)
class Decision:
    action: Action
    reason: Reason
    rule_id: str | None = None
    # Monitor mode turned a block into a would-block: action is ALLOW, reason says what would
    # have blocked.
    would_block: bool = False
    # The destination host after normalisation (None when the host itself was invalid).
    host: str | None = None
    # For the tunnel being decided: intercept TLS (True) or pass it through by SNI (False).
    inspect: bool = True
    raw_tcp: bool = False
    final: bool = False

    @property
    def allowed(self) -> bool:
        return self.action is Action.ALLOW
