"""Start the DNS server: inside `glassbreak run`'s event loop, or alone (`glassbreak dns`)."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from proxy.audit.log import AuditLog
from proxy.dns.secrets_in_names import FindSecrets
from proxy.dns.server import DnsServer
from proxy.dns.service import DnsHooks, DnsService
from proxy.inspection.detectors import ALL_DETECTORS
from proxy.inspection.engine import found_values_many, scrub
from proxy.inspection.findings import Kind
from proxy.inspection.scanner import Scanner
from proxy.metrics.registry import Metrics
from proxy.policy.model import Policy
from proxy.runtime.listen import ListenAddress, parse_listen
from proxy.runtime.paths import StatePaths
from proxy.runtime.state_lock import hold_state_directory

DEFAULT_DNS_LISTEN = "127.0.0.1:5353"


def parse_dns_listen(text: str) -> ListenAddress | None:
    """`--dns HOST:PORT`, or `off` for no DNS server."""
    return None if text.strip().lower() == "off" else parse_listen(text)


async def start_dns_server(policy: Policy, listen: ListenAddress, audit: AuditLog,
                           scanner: Scanner, hooks: DnsHooks | None = None) -> DnsServer:
    service = DnsService(policy, audit, hooks=hooks, scrub=name_scrubber(scanner),
                         find_secrets=name_secret_finder(scanner), credentials=CREDENTIALS)
    server = DnsServer(service, listen)
    await server.start()
    print(f"glassbreak: DNS on {listen.host}:{listen.port} (udp, tcp), upstreams "
          f"{', '.join(map(str, policy.dns.upstreams)) or 'none (network.hosts only)'}",
          file=sys.stderr, flush=True)
    return server


def dns_metrics_hooks(metrics: Metrics) -> DnsHooks:
    """Count every question by decision and reason, and every tunnelling detection by signal.
    A datagram dropped by the rate limit is a block with reason dns_rate_limited."""
    def on_query(decision: str, reason: str) -> None:
        metrics.dns_query("block" if decision == "drop" else decision, reason)

    return DnsHooks(on_query=on_query, on_detection=metrics.dns_tunnel_detection)


# The detectors whose value in a name refuses it: credentials. Personal-data detectors would read
# the digits of ordinary names (`ec2-3-4-5-6`) as numbers; their values are masked in the log.
CREDENTIALS = frozenset(d.id for d in ALL_DETECTORS if d.kind is Kind.SECRET)


def name_scrubber(scanner: Scanner) -> Callable[[str], str]:
    """What cleans a name for the audit log: names are case-insensitive, so a key is looked
    for in any case (a lower-cased AWS key id too)."""
    return lambda text: scrub(text, scanner, any_case=True)


def name_secret_finder(scanner: Scanner) -> FindSecrets:
    """What finds detectors' values in a name's runs of labels, in any case, one pass for all."""
    def find(texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
        return [[(m.start, m.end, m.detector) for m in found]
                for found in found_values_many(texts, scanner, any_case=True)]

    return find


@dataclass(frozen=True, kw_only=True)
class DnsRunConfig:
    policy: Policy
    listen: ListenAddress
    paths: StatePaths
    audit_stdout: bool = False


async def serve_dns(config: DnsRunConfig) -> None:
    config.paths.create()
    audit = AuditLog(config.paths.audit_log, to_stdout=config.audit_stdout)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    try:
        server = await start_dns_server(config.policy, config.listen, audit, Scanner())
        try:
            await stopped.wait()
        finally:
            await server.close()
    finally:
        audit.close()


def run_dns(config: DnsRunConfig) -> None:
    with hold_state_directory(config.paths):
        asyncio.run(serve_dns(config))
