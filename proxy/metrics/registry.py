"""Every metric Glassbreak exports, declared here and nowhere else, on a per-process registry.

One `Metrics` per process (tests and several instances in one interpreter never share counters):
each replica is scraped on its own and Prometheus sums them. Addons call the small recording
methods below; label values pass through `labels.bounded`, so no host, path or value can become a
label. Label combinations are created at start-up, so every series exists at 0 and `rate()` in
alert rules sees the first increment.

Metrics of features that have not landed yet (DNS, volume, escalations, grants, lockdown, rule
reloads) are declared with their final label sets and stay at 0 until those features call them.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Sequence
from importlib import metadata
from itertools import product

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.process_collector import ProcessCollector

from proxy.dns.tunnelling import Signal as TunnelSignal
from proxy.metrics import labels
from proxy.metrics.labels import (
    BLOCK_REASONS,
    DETECTORS,
    MONITORABLE_REASONS,
    OTHER,
    REASONS,
    Component,
    Decision,
    Direction,
    EscalationState,
    FindingAction,
    Kind,
    ReloadResult,
    bounded,
)

# No `_created` series: they double the exposition and no rule or panel reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

NAMESPACE = "glassbreak"
# Scanning a typical agent request takes tens of microseconds; a 1 MiB body, tens of milliseconds.
INSPECTION_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                      0.25, 0.5, 1.0, 2.5)


class _Family:
    """A labelled metric whose children are looked up once and kept: cheap on the hot path."""

    def __init__(self, metric: Counter | Gauge, allowed: Sequence[Iterable[str]]) -> None:
        self._metric = metric
        self._allowed = tuple(frozenset([*values, OTHER]) for values in allowed)
        self._children: dict[tuple[str, ...], Counter | Gauge] = {}

    def child(self, *values: str) -> Counter | Gauge:
        found = self._children.get(values)
        if found is not None:
            return found
        key = tuple(bounded(value, allowed) for value, allowed in zip(values, self._allowed,
                                                                        strict=True))
        child = self._children.get(key)
        if child is None:
            child = self._metric.labels(*key)
            self._children[key] = child
        # Only known values are remembered as themselves: the cache stays as bounded as the labels.
        return child

    def create(self, combinations: Iterable[Sequence[str]]) -> None:
        for combination in combinations:
            self.child(*combination)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        decisions = labels.values(Decision)

        self._requests = _Family(Counter(
            "requests", "Decisions taken on CONNECTs, HTTP requests and WebSocket findings, "
            "one per audit line", ["kind", "decision", "reason"], namespace=NAMESPACE, registry=r),
            [labels.values(Kind), decisions, REASONS])
        self._requests.create(_request_combinations())

        self._findings = _Family(Counter(
            "findings", "Inspection findings that were not allowed outright, by detector and "
            "action", ["detector", "action"], namespace=NAMESPACE, registry=r),
            [DETECTORS, labels.values(FindingAction)])
        self._findings.create(product(DETECTORS, labels.values(FindingAction)))

        self._bytes = _Family(Counter(
            "bytes", "Body bytes of HTTP exchanges and bytes relayed in tunnels, by direction",
            ["direction"], namespace=NAMESPACE, registry=r), [labels.values(Direction)])
        self._bytes.create([(d,) for d in labels.values(Direction)])
        self._up = self._bytes.child(Direction.UP)
        self._down = self._bytes.child(Direction.DOWN)

        self._inspection = Histogram(
            "inspection_seconds", "Time to decode and scan one request", namespace=NAMESPACE,
            buckets=INSPECTION_BUCKETS, registry=r)

        self._dns = _Family(Counter(
            "dns_queries", "DNS queries by decision and reason", ["decision", "reason"],
            namespace=NAMESPACE, registry=r), [decisions, REASONS])
        self._dns.create([(Decision.ALLOW, "allowed"), *((Decision.BLOCK, reason)
                                                        for reason in BLOCK_REASONS)])
        self._dns_tunnel = _Family(Counter(
            "dns_tunnel_detections",
            "DNS tunnelling detections, by the signal that made them (proxy/dns/tunnelling.py)",
            ["signal"], namespace=NAMESPACE, registry=r), [labels.values(TunnelSignal)])
        self._dns_tunnel.create([(signal,) for signal in labels.values(TunnelSignal)])

        self._volume_anomalies = Counter(
            "volume_anomalies", "Clients whose traffic volume left their usual range",
            namespace=NAMESPACE, registry=r)
        self._budget_blocks = Counter(
            "budget_blocks", "Requests blocked because a volume budget was spent",
            namespace=NAMESPACE, registry=r)

        self._escalations = _Family(Counter(
            "escalations", "Escalation transitions, by the state entered", ["state"],
            namespace=NAMESPACE, registry=r), [labels.values(EscalationState)])
        self._escalations.create([(s,) for s in labels.values(EscalationState)])
        self._pending = Gauge("escalations_pending", "Escalations waiting for a human",
                              namespace=NAMESPACE, registry=r)
        self._oldest_pending = Gauge(
            "escalations_oldest_pending_seconds", "How long the oldest pending escalation has "
            "waited (0 when none is pending)", namespace=NAMESPACE, registry=r)
        self._grants = Gauge("grants_live", "Approved escalations whose grant has not expired",
                             namespace=NAMESPACE, registry=r)
        self._lockdown = Gauge("lockdown", "1 while lockdown is on (every escalation refused)",
                               namespace=NAMESPACE, registry=r)

        self._reloads = _Family(Counter(
            "rule_reloads", "Rule file reloads by result", ["result"], namespace=NAMESPACE,
            registry=r), [labels.values(ReloadResult)])
        self._reloads.create([(result,) for result in labels.values(ReloadResult)])

        self._errors = _Family(Counter(
            "internal_errors", "Exceptions caught by a fail-closed guard (each one blocked), "
            "and audit log write failures", ["component"], namespace=NAMESPACE, registry=r),
            [labels.values(Component)])
        self._errors.create([(c,) for c in (*labels.values(Component), OTHER)])

        Info("build", "Glassbreak version and what it runs on", namespace=NAMESPACE,
             registry=r).info(_build_info())
        ProcessCollector(namespace=NAMESPACE, registry=r)

    # The proxy path: every audit line, finding, byte and scan.

    def request_decided(self, kind: str, decision: str, reason: str) -> None:
        self._requests.child(kind, decision, reason).inc()

    def finding(self, detector: str, action: str) -> None:
        self._findings.child(detector, action).inc()

    def transferred(self, up: int, down: int) -> None:
        if up > 0:
            self._up.inc(up)
        if down > 0:
            self._down.inc(down)

    def inspection_seconds(self, seconds: float) -> None:
        self._inspection.observe(seconds)

    def internal_error(self, component: str) -> None:
        self._errors.child(component).inc()

    # DNS (called by the DNS server).

    def dns_query(self, decision: str, reason: str) -> None:
        self._dns.child(decision, reason).inc()

    def dns_tunnel_detection(self, signal: str) -> None:
        self._dns_tunnel.child(signal).inc()

    # Volume, escalations, grants, lockdown, rule reloads (called by those features).

    def volume_anomaly(self) -> None:
        self._volume_anomalies.inc()

    def budget_block(self) -> None:
        self._budget_blocks.inc()

    def escalation(self, state: str) -> None:
        self._escalations.child(state).inc()

    def set_pending_escalations(self, count: int) -> None:
        self._pending.set(count)

    def set_oldest_pending_seconds(self, seconds: float) -> None:
        self._oldest_pending.set(max(0.0, seconds))

    def set_live_grants(self, count: int) -> None:
        self._grants.set(count)

    def set_lockdown(self, on: bool) -> None:
        self._lockdown.set(1 if on else 0)

    def rule_reload(self, ok: bool) -> None:
        self._reloads.child(ReloadResult.OK if ok else ReloadResult.FAILED).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _request_combinations() -> list[tuple[str, str, str]]:
    combinations: list[tuple[str, str, str]] = []
    for kind in (Kind.HTTP, Kind.CONNECT):
        combinations.append((kind, Decision.ALLOW, "allowed"))
        combinations += [(kind, Decision.BLOCK, reason) for reason in BLOCK_REASONS]
        combinations += [(kind, Decision.WOULD_BLOCK, reason) for reason in MONITORABLE_REASONS]
    return combinations


def _build_info() -> dict[str, str]:
    def version(distribution: str) -> str:
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            return "unknown"

    return {"version": version("glassbreak"), "mitmproxy": version("mitmproxy"),
            "python": platform.python_version()}
