"""Assemble and run one Glassbreak process: mitmproxy in regular (forward) mode plus our addons."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from mitmproxy import options
from mitmproxy.tools.dump import DumpMaster

from addons.allowlist import Allowlist
from addons.audit import Audit
from addons.pinning import Pinning
from addons.state import Gate
from addons.tunnel import TunnelGuard
from proxy.audit.log import AuditLog
from proxy.netsafety.resolver import Resolver
from proxy.policy.model import Policy
from proxy.runtime.ca import ensure_ca, upstream_trust_bundle
from proxy.runtime.listen import ListenAddress
from proxy.runtime.paths import StatePaths

FAULT_HOSTS_ENV = "GLASSBREAK_INJECT_FAULT_HOSTS"


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    policy: Policy
    listen: ListenAddress
    paths: StatePaths
    upstream_ca: Path | None = None
    audit_stdout: bool = False


def mitmproxy_options(config: RunConfig, bundle: Path) -> dict[str, object]:
    return {
        "mode": ["regular"],
        "listen_host": config.listen.host,
        "listen_port": config.listen.port,
        "confdir": str(config.paths.ca_dir),
        # Connect upstream only once a request was decided: a blocked request never opens one.
        "connection_strategy": "lazy",
        "ssl_verify_upstream_trusted_ca": str(bundle),
        "ssl_insecure": False,
        # mitmproxy's own web pages (mitm.it) would be a destination nobody allowed.
        "onboarding": False,
        "termlog_verbosity": "warn",
    }


def build_gate(config: RunConfig) -> Gate:
    fault_hosts = frozenset(h for h in os.environ.get(FAULT_HOSTS_ENV, "").split(",") if h)
    return Gate(
        policy=config.policy,
        resolver=Resolver(config.policy.network.hosts),
        audit=AuditLog(config.paths.audit_log, to_stdout=config.audit_stdout),
        listen_addresses=frozenset({(config.listen.address, config.listen.port)}),
        fault_hosts=fault_hosts,
    )


async def serve(config: RunConfig) -> None:
    ensure_ca(config.paths)
    bundle = upstream_trust_bundle(config.paths, config.upstream_ca)
    master = DumpMaster(options.Options(), with_termlog=True, with_dumper=False)
    gate = build_gate(config)
    master.addons.add(Allowlist(gate), TunnelGuard(gate), Pinning(gate), Audit(gate))
    master.options.update(**mitmproxy_options(config, bundle))

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, master.shutdown)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    print(
        f"glassbreak: proxy on {config.listen.host}:{config.listen.port}, "
        f"rules {config.policy.source} ({len(config.policy.destinations)} destinations), "
        f"CA {config.paths.ca_cert}, audit {config.paths.audit_log}",
        file=sys.stderr, flush=True,
    )
    try:
        await master.run()
    finally:
        gate.audit.close()


def run(config: RunConfig) -> None:
    asyncio.run(serve(config))
