"""The alert rules are valid and behave as their unit tests say (promtool, from Debian's
`prometheus`, installed by scripts/install-test-deps.sh). A missing promtool fails: it is a
dependency of `make test`, not an optional extra."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from proxy.metrics.registry import Metrics

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
ALERTS = PROMETHEUS / "alerts.yaml"
TESTS = PROMETHEUS / "alerts_test.yaml"
# Series Prometheus makes itself, not Glassbreak.
PROMETHEUS_SERIES = {"up"}
REQUIRED_ALERTS = {
    "GlassbreakExfiltrationAttempt", "GlassbreakDnsTunnelling", "GlassbreakVolumeAnomaly",
    "GlassbreakEscalationPending", "GlassbreakLockdown", "GlassbreakInternalErrors",
    "GlassbreakRuleReloadFailed", "GlassbreakDown",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary is not None, "promtool is missing: run scripts/install-test-deps.sh (make test)"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120,
                          check=False, cwd=PROMETHEUS)


def test_rules_pass_promtool_check() -> None:
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_pass_their_unit_tests() -> None:
    result = promtool("test", "rules", str(TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def alert_rules() -> list[dict[str, object]]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b(glassbreak_[a-z_]+|up)\b(?=\s*[{\[)])", expr))


def exported_names() -> set[str]:
    from prometheus_client.parser import text_string_to_metric_families

    text = Metrics().exposition().decode()
    return {sample.name for family in text_string_to_metric_families(text)
            for sample in family.samples}


def test_every_required_alert_exists_and_each_has_a_firing_and_a_quiet_test() -> None:
    names = {str(rule["alert"]) for rule in alert_rules()}
    assert names >= REQUIRED_ALERTS
    tests = yaml.safe_load(TESTS.read_text(encoding="utf-8"))["tests"]
    cases = [case for group in tests for case in group["alert_rule_test"]]
    for name in names:
        fired = [c for c in cases if c["alertname"] == name and c.get("exp_alerts")]
        quiet = [c for c in cases if c["alertname"] == name and not c.get("exp_alerts")]
        assert fired and quiet, f"{name} needs a test where it fires and a near miss"


def test_rules_read_only_metrics_glassbreak_exports() -> None:
    exported = exported_names() | PROMETHEUS_SERIES
    for rule in alert_rules():
        used = metric_names(str(rule["expr"]))
        assert used, rule["alert"]
        assert used <= exported, (rule["alert"], used - exported)
