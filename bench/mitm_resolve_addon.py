"""mitmdump addon for the bench's bare arm: resolve bench names the way Glassbreak's rule file does.

The OS cannot resolve ``bench.test``; Glassbreak maps it with ``network.hosts`` in its rule file.
This addon gives bare mitmdump the same map, so both proxies receive the same CONNECT target by
name and both do the name-to-address step. Only the dialled address changes: SNI and the upstream
certificate check still use the name.

mitmproxy dials ``server.address`` after the ``server_connect`` hook, so the hook swaps in the
address; ``server_connected`` puts the name back, because mitmproxy matches server connections for
reuse by ``address``. Without the restore, every request on a kept-alive client connection opens a
new upstream connection, and the sixth one hangs on mitmproxy's limit of five connections per
address and client. mitmproxy refuses ``server.address = ...`` on an open connection
(RuntimeError), so the restore writes the attribute past that guard: once the socket is open the
address is only used to match connections for reuse.

The map comes from ``GLASSBREAK_BENCH_HOSTS`` ("name=ip,name=ip"), default ``bench.test=127.0.0.2``.
"""

from __future__ import annotations

import os

from mitmproxy.proxy import server_hooks


def _parse_hosts(spec: str) -> dict[str, str]:
    hosts: dict[str, str] = {}
    for item in spec.split(","):
        name, sep, address = item.strip().partition("=")
        if sep and name and address:
            hosts[name.strip().lower().rstrip(".")] = address.strip()
    return hosts


HOSTS = _parse_hosts(os.environ.get("GLASSBREAK_BENCH_HOSTS", "bench.test=127.0.0.2"))


class BenchResolve:
    def __init__(self) -> None:
        self._names: dict[str, tuple[str, int]] = {}

    def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        address = data.server.address
        if not address:
            return
        host, port = str(address[0]), int(address[1])
        mapped = HOSTS.get(host.lower().rstrip("."))
        if mapped is not None:
            self._names[data.server.id] = (host, port)
            data.server.address = (mapped, port)

    def server_connected(self, data: server_hooks.ServerConnectionHookData) -> None:
        name = self._names.pop(data.server.id, None)
        if name is not None:
            # Past mitmproxy's "Cannot change server.address on open connection" guard.
            object.__setattr__(data.server, "address", name)

    def server_connect_error(self, data: server_hooks.ServerConnectionHookData) -> None:
        name = self._names.pop(data.server.id, None)
        if name is not None:
            data.server.address = name


addons = [BenchResolve()]
