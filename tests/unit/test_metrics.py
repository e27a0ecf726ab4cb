"""The metrics registry: bounded labels, series at 0 from the start, one registry per process."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from proxy.inspection.detectors import DETECTORS_BY_ID
from proxy.metrics import labels
from proxy.metrics.registry import Metrics
from proxy.policy.reasons import Reason


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(metrics: Metrics, name: str, **label_values: str) -> float:
    return samples(metrics)[(name, tuple(sorted(label_values.items())))]


def test_series_exist_at_zero_before_anything_happens() -> None:
    metrics = Metrics()
    assert value(metrics, "glassbreak_requests_total", kind="connect", decision="block",
                 reason="host_not_allowed") == 0
    assert value(metrics, "glassbreak_findings_total", detector="aws_access_key",
                 action="block") == 0
    assert value(metrics, "glassbreak_internal_errors_total", component="inspection") == 0
    assert value(metrics, "glassbreak_rule_reloads_total", result="failed") == 0
    assert value(metrics, "glassbreak_dns_queries_total", decision="block",
                 reason="host_not_allowed") == 0
    assert value(metrics, "glassbreak_lockdown") == 0


def test_recording_functions_count_exactly() -> None:
    metrics = Metrics()
    metrics.request_decided("http", "block", "secret_detected")
    metrics.request_decided("http", "block", "secret_detected")
    metrics.finding("github_token", "redact")
    metrics.transferred(10, 300)
    metrics.transferred(0, 5)
    metrics.inspection_seconds(0.002)
    metrics.internal_error("tunnel")
    metrics.dns_query("allow", "allowed")
    metrics.escalation("approved")
    metrics.set_pending_escalations(3)
    metrics.set_lockdown(True)
    metrics.rule_reload(False)
    assert value(metrics, "glassbreak_requests_total", kind="http", decision="block",
                 reason="secret_detected") == 2
    assert value(metrics, "glassbreak_findings_total", detector="github_token",
                 action="redact") == 1
    assert value(metrics, "glassbreak_bytes_total", direction="up") == 10
    assert value(metrics, "glassbreak_bytes_total", direction="down") == 305
    assert value(metrics, "glassbreak_inspection_seconds_count") == 1
    assert value(metrics, "glassbreak_inspection_seconds_bucket", le="0.0025") == 1
    assert value(metrics, "glassbreak_inspection_seconds_bucket", le="0.001") == 0
    assert value(metrics, "glassbreak_internal_errors_total", component="tunnel") == 1
    assert value(metrics, "glassbreak_dns_queries_total", decision="allow", reason="allowed") == 1
    assert value(metrics, "glassbreak_escalations_total", state="approved") == 1
    assert value(metrics, "glassbreak_escalations_pending") == 3
    assert value(metrics, "glassbreak_lockdown") == 1
    assert value(metrics, "glassbreak_rule_reloads_total", result="failed") == 1


@pytest.mark.parametrize(("call", "name", "expected"), [
    (lambda m: m.request_decided("http", "block", "evil.example.com"),
     "glassbreak_requests_total", {"kind": "http", "decision": "block", "reason": "other"}),
    (lambda m: m.request_decided("/etc/passwd", "maybe", "allowed"),
     "glassbreak_requests_total", {"kind": "other", "decision": "other", "reason": "allowed"}),
    (lambda m: m.finding("AKIAIOSFODNN7EXAMPLE", "block"),
     "glassbreak_findings_total", {"detector": "other", "action": "block"}),
    (lambda m: m.finding("aws_access_key", "allow"),
     "glassbreak_findings_total", {"detector": "aws_access_key", "action": "other"}),
    (lambda m: m.internal_error("Allowlist.requestheaders"),
     "glassbreak_internal_errors_total", {"component": "other"}),
    (lambda m: m.dns_query("block", "x" * 300),
     "glassbreak_dns_queries_total", {"decision": "block", "reason": "other"}),
    (lambda m: m.escalation("PENDING"), "glassbreak_escalations_total", {"state": "other"}),
], ids=["host-as-reason", "path-as-kind", "secret-as-detector", "unknown-action",
        "hook-name", "long-dns-reason", "upper-case-state"])
def test_unknown_label_values_become_other(call, name: str, expected: dict[str, str]) -> None:
    metrics = Metrics()
    call(metrics)
    assert value(metrics, name, **expected) == 1


def test_unknown_values_never_add_series_beyond_other() -> None:
    metrics = Metrics()
    before = len(samples(metrics))
    for index in range(500):
        metrics.request_decided(f"kind{index}", f"decision{index}", f"host{index}.example")
        metrics.finding(f"secret-{index}", f"action{index}")
        metrics.internal_error(f"where{index}")
        metrics.dns_query("block", f"label{index}")
        metrics.dns_tunnel_detection(f"signal{index}")
    after = samples(metrics)
    # One "other" series per family at most: requests, findings, errors (pre-created), DNS, tunnel.
    assert len(after) - before <= 4
    assert not any("example" in str(key) or "secret-" in str(key) for key in after)


def test_series_are_bounded_by_the_enums() -> None:
    """The most series the label enums allow: a number known before any traffic."""
    kinds, decisions = len(labels.Kind) + 1, len(labels.Decision) + 1
    reasons, detectors = len(Reason) + 1, len(DETECTORS_BY_ID) + 1
    bound = (kinds * decisions * reasons + detectors * (len(labels.FindingAction) + 1)
             + decisions * reasons + reasons + 200)
    metrics = Metrics()
    for kind in (*labels.values(labels.Kind), "x"):
        for decision in (*labels.values(labels.Decision), "y"):
            for reason in (*labels.REASONS, "z"):
                metrics.request_decided(kind, decision, reason)
    assert len(samples(metrics)) <= bound


def test_two_instances_do_not_share_counters() -> None:
    first, second = Metrics(), Metrics()
    first.request_decided("http", "allow", "allowed")
    assert value(first, "glassbreak_requests_total", kind="http", decision="allow",
                 reason="allowed") == 1
    assert value(second, "glassbreak_requests_total", kind="http", decision="allow",
                 reason="allowed") == 0


def test_every_metric_is_prefixed_and_build_info_is_there() -> None:
    metrics = Metrics()
    names = {name for name, _ in samples(metrics)}
    assert all(name.startswith("glassbreak_") for name in names), names
    build = [key for key in samples(metrics) if key[0] == "glassbreak_build_info"]
    assert len(build) == 1
    assert {"version", "python", "mitmproxy"} <= dict(build[0][1]).keys()
