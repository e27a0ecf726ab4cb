"""Dial exactly the address that was checked, never a fresh lookup of the name.

mitmproxy would resolve `server.address` itself when connecting; we swap in the checked address
for the connect call and put the name back afterwards (mitmproxy matches connections for reuse by
the name).
"""

from __future__ import annotations

from mitmproxy.proxy import server_hooks

from addons.failclosed import fail_closed
from addons.state import Gate
from proxy.metrics.labels import Component
from proxy.policy.hosts import HostError, normalise_host

NOT_CHECKED = "glassbreak: refusing to dial a destination that was not checked"


def _refuse_connection(_addon: Pinning, data: server_hooks.ServerConnectionHookData) -> None:
    data.server.error = NOT_CHECKED


class Pinning:
    metrics_component = Component.PINNING

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self._names: dict[str, tuple[str, int]] = {}

    @fail_closed(_refuse_connection)
    def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        if data.server.error or data.server.address is None:
            return
        name, port = data.server.address[0], data.server.address[1]
        try:
            host = normalise_host(name)
        except HostError:
            data.server.error = NOT_CHECKED
            return
        addresses = self.gate.checked_addresses(data.client.id, host, port)
        if not addresses:
            data.server.error = NOT_CHECKED
            return
        self._names[data.server.id] = (name, port)
        data.server.address = (str(addresses[0]), port)

    def server_connected(self, data: server_hooks.ServerConnectionHookData) -> None:
        self._restore(data)

    def server_connect_error(self, data: server_hooks.ServerConnectionHookData) -> None:
        self._restore(data)

    def _restore(self, data: server_hooks.ServerConnectionHookData) -> None:
        name = self._names.pop(data.server.id, None)
        if name is not None:
            # mitmproxy refuses `server.address = ...` on an open connection, to stop addons from
            # redirecting it. Putting the name back redirects nothing (the socket is connected to
            # the checked address); it only lets mitmproxy find this connection again for reuse.
            # Without it, every kept-alive request opens a new upstream connection, and the sixth
            # waits forever on mitmproxy's per-address connection limit.
            object.__setattr__(data.server, "address", name)
