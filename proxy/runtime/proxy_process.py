"""Assemble and run one Glassbreak process: mitmproxy in regular (forward) mode plus our addons."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mitmproxy import connection, options
from mitmproxy import master as mitmproxy_master
from mitmproxy.addons import block, core, errorcheck, next_layer, proxyserver, tlsconfig
from mitmproxy.proxy import mode_servers

from addons.allowlist import Allowlist
from addons.audit import Audit
from addons.inspection import Inspector
from addons.pinning import Pinning
from addons.state import Gate
from addons.tunnel import TunnelGuard
from addons.websocket_control import empty_control_frames_to_servers
from proxy.admin.server import AdminServer
from proxy.audit.log import DEFAULT_MAX_BYTES, AuditLog
from proxy.inspection.clean_texts import CleanTexts
from proxy.inspection.scanner import Scanner
from proxy.metrics.labels import Component
from proxy.metrics.registry import Metrics
from proxy.netsafety.resolver import Resolver, absolute_names_first
from proxy.policy.model import Policy
from proxy.runtime.ca import ensure_ca, upstream_trust_bundle
from proxy.runtime.dns_process import dns_metrics_hooks, start_dns_server
from proxy.runtime.finding_key import load_or_create_audit_key, load_or_create_finding_key
from proxy.runtime.front_door import FrontDoor
from proxy.runtime.inspection_pool import DEFAULT_WORKERS, InspectionPool
from proxy.runtime.inspection_worker import WorkerSettings
from proxy.runtime.listen import ListenAddress
from proxy.runtime.paths import StatePaths
from proxy.runtime.state_lock import hold_state_directory

FAULT_HOSTS_ENV = "GLASSBREAK_INJECT_FAULT_HOSTS"


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    policy: Policy
    listen: ListenAddress
    paths: StatePaths
    upstream_ca: Path | None = None
    audit_stdout: bool = False
    dns: ListenAddress | None = None  # the DNS server's address; None: no DNS server
    audit_max_bytes: int = DEFAULT_MAX_BYTES
    admin: ListenAddress | None = None  # /metrics and /healthz; None: no admin listener
    inspection_workers: int = DEFAULT_WORKERS  # 0: every request inspected on the event loop


def mitmproxy_options(config: RunConfig, bundle: Path) -> dict[str, object]:
    return {
        # mitmproxy listens on nothing: the front door owns the socket and hands connections over.
        "mode": [],
        "confdir": str(config.paths.ca_dir),
        # Connect upstream only once a request was decided: a blocked request never opens one.
        "connection_strategy": "lazy",
        "ssl_verify_upstream_trusted_ca": str(bundle),
        "ssl_insecure": False,
        # A hard cap on what mitmproxy buffers: twice the largest body inspection may read.
        # Up to the cap, an oversize body gets Glassbreak's 403 body_too_large (mitmproxy checks
        # its limit before any addon sees the request); beyond it, mitmproxy's own 413.
        "body_size_limit": str(2 * largest_body_limit(config.policy)),
        "termlog_verbosity": "warn",
    }


class OpenDoor:
    """Start accepting once mitmproxy is running; stop when it is done."""

    def __init__(self, door: FrontDoor) -> None:
        self.door = door

    def running(self) -> None:
        self.door.start_accepting()

    def done(self) -> None:
        self.door.close()


def mitmproxy_addons(server: proxyserver.Proxyserver) -> list[object]:
    """The mitmproxy addons a forward proxy needs, and no more.

    mitmproxy offers every hook to every addon: its ~35 default addons (replay, onboarding pages
    at mitm.it, map-local, scripts...) cost more CPU per connection than all of Glassbreak's
    checks, and some of them would answer requests nobody allowed.
    """
    return [
        core.Core(),
        server,
        next_layer.NextLayer(),
        tlsconfig.TlsConfig(),
        block.Block(),  # refuses clients from public addresses (block_global)
        errorcheck.ErrorCheck(),  # exits on start-up errors such as a port in use
    ]


def _client_closer(server: proxyserver.Proxyserver) -> Callable[[connection.Client], None]:
    """Close a client's connection at once; mitmproxy then tears down its server side too."""

    def close(client: connection.Client) -> None:
        handler = server.connections.get(client.id)
        transport = handler.transports.get(client) if handler is not None else None
        if transport is not None and transport.writer is not None:
            transport.writer.close()

    return close


def largest_body_limit(policy: Policy) -> int:
    limits = [policy.inspection.max_body_bytes]
    limits += [d.inspection.max_body_bytes for d in policy.destinations
               if d.inspection.max_body_bytes is not None]
    return max(limits)


def build_gate(config: RunConfig) -> Gate:
    fault_hosts = frozenset(h for h in os.environ.get(FAULT_HOSTS_ENV, "").split(",") if h)
    metrics = Metrics()
    audit = AuditLog(config.paths.audit_log, key=load_or_create_audit_key(config.paths),
                     to_stdout=config.audit_stdout, max_bytes=config.audit_max_bytes,
                     on_error=lambda: metrics.internal_error(Component.AUDIT_LOG))
    # Dialling one of our own listeners would loop (or hand the admin API, or a tunnel to the
    # DNS server that sidesteps its per-client view, to a sandbox).
    listeners = [config.listen] + [extra for extra in (config.admin, config.dns)
                                   if extra is not None]
    scanner = Scanner()
    scanner.prepare_rewrites()  # before listening: not on the first inspected request
    return Gate(
        policy=config.policy,
        resolver=Resolver(config.policy.network.hosts),
        audit=audit,
        scanner=scanner,
        clean_texts=CleanTexts(config.policy.inspection.clean_cache_entries),
        finding_key=load_or_create_finding_key(config.paths),
        listen_addresses=frozenset((listen.address, listen.port) for listen in listeners),
        fault_hosts=fault_hosts,
        metrics=metrics,
    )


async def serve(config: RunConfig) -> None:
    ensure_ca(config.paths)
    bundle = upstream_trust_bundle(config.paths, config.upstream_ca)
    master = mitmproxy_master.Master(options.Options(), with_termlog=True)
    gate = build_gate(config)
    gate.inspection_pool = inspection_pool(config, gate.finding_key)
    try:
        if gate.inspection_pool is not None:
            gate.inspection_pool.start()
        await _serve(config, bundle, master, gate)
    finally:
        if gate.inspection_pool is not None:
            gate.inspection_pool.close()
        # Lines of tunnels still open, then the log's stop line: nothing answered goes unlogged.
        gate.close()


def inspection_pool(config: RunConfig, finding_key: bytes) -> InspectionPool | None:
    inspection = config.policy.inspection
    if config.inspection_workers <= 0 or not inspection.enabled:
        return None
    return InspectionPool(config.inspection_workers, WorkerSettings(
        finding_key=finding_key, max_depth=inspection.max_depth,
        cpu_seconds_per_mib=inspection.cpu_seconds_per_mib))


async def _serve(config: RunConfig, bundle: Path, master: mitmproxy_master.Master,
                 gate: Gate) -> None:
    server = proxyserver.Proxyserver()
    gate.close_client = _client_closer(server)
    empty_control_frames_to_servers()
    regular: mode_servers.ServerInstance[Any] = mode_servers.ServerInstance.make("regular", server)
    door = FrontDoor(gate, config.listen, regular.handle_stream)
    door.bind()
    dns = None
    if config.dns is not None:
        dns = await start_dns_server(config.policy, config.dns, gate.audit, gate.scanner,
                                     hooks=dns_metrics_hooks(gate.metrics))
    master.addons.add(*mitmproxy_addons(server), Allowlist(gate), TunnelGuard(gate),
                      Inspector(gate), Pinning(gate), Audit(gate), OpenDoor(door))
    master.options.update(**mitmproxy_options(config, bundle))

    stopping = False

    def stop() -> None:
        nonlocal stopping
        stopping = True  # /healthz says 503 from now on
        master.shutdown()

    admin = None
    if config.admin is not None:
        admin = AdminServer(config.admin, gate.metrics, lambda: door.accepting and not stopping)
        await admin.start()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    admin_text = f"{config.admin.host}:{config.admin.port}" if config.admin else "off"
    print(
        f"glassbreak: proxy on {config.listen.host}:{config.listen.port}, "
        f"rules {config.policy.source} ({len(config.policy.destinations)} destinations), "
        f"CA {config.paths.ca_cert}, audit {config.paths.audit_log}, admin {admin_text}",
        file=sys.stderr, flush=True,
    )
    try:
        await master.run()
    finally:
        await door.drain()
        if dns is not None:
            await dns.close()
        if admin is not None:
            await admin.stop()


def run(config: RunConfig) -> None:
    absolute_names_first()  # before any lookup (resolver.py)
    with hold_state_directory(config.paths):
        asyncio.run(serve(config))
