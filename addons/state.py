"""What the addons share about live client connections: tunnels, checked addresses, the policy.

One `Gate` per process. Entries are dropped when the client disconnects.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from mitmproxy import connection

from proxy.audit.log import AuditLog
from proxy.audit.record import AuditRecord
from proxy.audit.redact_record import redact_encoded, redact_record
from proxy.inspection.clean_texts import CleanTexts
from proxy.inspection.engine import Text, inspect_texts, scrub
from proxy.inspection.scanner import Scanner
from proxy.metrics.labels import FindingAction
from proxy.metrics.registry import Metrics
from proxy.netsafety.resolver import Resolver
from proxy.policy.decision import Decision
from proxy.policy.model import IPAddress, Policy
from proxy.runtime.inspection_pool import InspectionPool


def new_request_id() -> str:
    return uuid.uuid4().hex


@dataclass(kw_only=True)
class Tunnel:
    """An allowed CONNECT: everything later on this client connection must agree with it."""

    host: str  # normalised CONNECT target
    port: int
    decision: Decision
    addresses: tuple[IPAddress, ...]  # checked at CONNECT; the only addresses ever dialled
    record: AuditRecord  # the connection's audit line, written when the tunnel ends
    sni: str | None = None
    passthrough: bool = False  # TLS relayed unopened (inspect: false, SNI checked)
    # Set when a hook failed or a check at the TLS layer refused: every later request is blocked.
    poisoned: Decision | None = None


@dataclass(kw_only=True)
class Gate:
    policy: Policy
    resolver: Resolver
    audit: AuditLog
    scanner: Scanner
    clean_texts: CleanTexts = field(default_factory=lambda: CleanTexts(0))
    finding_key: bytes  # keys the hashes that identify found values without revealing them
    listen_addresses: frozenset[tuple[IPAddress, int]] = frozenset()
    tunnels: dict[str, Tunnel] = field(default_factory=dict)
    # (client id, host, port) -> addresses checked for a plain-HTTP request to that host.
    pins: dict[tuple[str, str, int], tuple[IPAddress, ...]] = field(default_factory=dict)
    # Hosts whose decisions raise on purpose, to prove that a crashing hook blocks (tests only;
    # set from GLASSBREAK_INJECT_FAULT_HOSTS; it can only ever turn an answer into a block).
    fault_hosts: frozenset[str] = frozenset()
    metrics: Metrics = field(default_factory=Metrics)
    # Closes a client's connection now (a blocked WebSocket message: mitmproxy's flow.kill()
    # does not end a WebSocket). None outside a running proxy (tests of single addons).
    close_client: Callable[[connection.Client], None] | None = None
    # Worker processes for large requests (proxy/runtime/inspection_pool.py); None: every
    # request is inspected on the event loop.
    inspection_pool: InspectionPool | None = None

    def raise_if_fault_injected(self, host: str) -> None:
        if host in self.fault_hosts:
            raise RuntimeError("injected fault")

    def write_audit(self, record: AuditRecord) -> None:
        """Write a line with every secret the sender put in its host, path, method or logged
        headers replaced (proxy/audit/redact_record.py): the audit log must never hold one."""
        redact_record(record, lambda text: scrub(text, self.scanner))
        if record.findings:  # the sender is writing secrets: its other fields may hold them too
            redact_encoded(record, self._found_in)
        self.audit.write(record)
        # Counted where it is logged: every audit line is counted once, and nothing else is.
        self.metrics.request_decided(record.kind, record.decision, record.reason)
        for finding in record.findings:
            self.metrics.finding(str(finding.get("detector")), finding_action(finding))

    def _found_in(self, text: str) -> str | None:
        """The detector of the first value inspection finds in `text`, any layer, or None."""
        if not text or text.startswith("[REDACTED:"):
            return None
        inspection = inspect_texts([Text("audit", text)], self.scanner, self.finding_key,
                                   max_depth=self.policy.inspection.max_depth)
        if inspection.limit_reached:
            return "inspection_limit"
        return inspection.hits[0].finding.detector if inspection.hits else None

    def close(self) -> None:
        """At shutdown: write the lines of tunnels still open, then close the log."""
        for client_id in list(self.tunnels):
            tunnel = self.forget_client(client_id)
            if tunnel is not None:
                self.write_audit(tunnel.record)
        self.audit.close()

    def checked_addresses(self, client_id: str, host: str, port: int) -> tuple[IPAddress, ...]:
        tunnel = self.tunnels.get(client_id)
        if tunnel is not None and (tunnel.host, tunnel.port) == (host, port):
            return tunnel.addresses
        return self.pins.get((client_id, host, port), ())

    def forget_client(self, client_id: str) -> Tunnel | None:
        for key in [key for key in self.pins if key[0] == client_id]:
            del self.pins[key]
        return self.tunnels.pop(client_id, None)


def finding_action(finding: dict[str, object]) -> str:
    action = str(finding.get("action"))
    if action == FindingAction.BLOCK and finding.get("would_block") is True:
        return FindingAction.WOULD_BLOCK
    return action
