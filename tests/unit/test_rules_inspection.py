"""The `inspection:` section of a rule file: compiled values, and errors with line numbers."""

from __future__ import annotations

import pytest

from proxy.policy.loader import RuleFileError, load_rules_text
from proxy.policy.model import FindingAction, Oversize


def test_inspection_section_compiles() -> None:
    policy = load_rules_text(
        "version: 1\n"
        "inspection:\n"
        "  max_depth: 2\n"
        "  max_body_bytes: 1024\n"
        "  oversize: forward\n"
        "  actions: {email: alert, high: redact}\n"
        "  pii_thresholds: {email: 3}\n"
        f"  exempt_hashes: ['{'a' * 64}']\n"
        "destinations:\n"
        "  - host: api.example.com\n"
        "    inspection:\n"
        "      actions: {anthropic_api_key: allow}\n"
        "      max_body_bytes: 2048\n",
        "t.yaml",
    )
    inspection = policy.inspection
    assert (inspection.max_depth, inspection.max_body_bytes) == (2, 1024)
    assert inspection.oversize is Oversize.FORWARD
    assert inspection.actions == {"email": FindingAction.ALERT, "high": FindingAction.REDACT}
    assert inspection.pii_thresholds == {"email": 3}
    assert inspection.exempt_hashes == frozenset({"a" * 64})
    overrides = policy.destinations[0].inspection
    assert overrides.actions == {"anthropic_api_key": FindingAction.ALLOW}
    assert overrides.max_body_bytes == 2048 and overrides.oversize is None


LOCATED = """destinations:
  - host: s3.example
    inspection:
      location_actions:
        - detector: {detector}
          locations: {locations}
          action: {action}
"""


def test_location_actions_compile() -> None:
    policy = load_rules_text("version: 1\n" + LOCATED.format(
        detector="aws_access_key", locations="[header:Authorization, 'body:$.*', header:a]",
        action="allow"), "t.yaml")
    [rule] = policy.destinations[0].inspection.location_actions
    assert (rule.key, rule.action) == ("aws_access_key", FindingAction.ALLOW)
    assert rule.locations == ("header:authorization", "body:$.*", "header:a")


def test_defaults_without_a_section() -> None:
    inspection = load_rules_text("version: 1\n", "t.yaml").inspection
    assert inspection.enabled and inspection.max_depth == 3
    assert inspection.max_body_bytes == 10 * 1024 * 1024
    assert inspection.oversize is Oversize.BLOCK


@pytest.mark.parametrize(
    ("body", "line", "fragment"),
    [
        ("inspection:\n  actions: {aws_acess_key: block}\n", 3, "aws_access_key"),
        ("inspection:\n  actions: {email: drop}\n", 3, "'drop'"),
        ("inspection:\n  pii_thresholds: {jwt: 2}\n", 3, "not a PII detector"),
        ("inspection:\n  pii_thresholds: {email: 0}\n", 3, "threshold 0 is out of range"),
        ("inspection:\n  exempt_hashes: [abc]\n", 3, "keyed hash"),
        ("inspection:\n  max_body_bytes: 0\n", 3, "out of range"),
        ("inspection:\n  max_depth: 9\n", 3, "max_depth"),
        ("inspection:\n  oversize: ignore\n", 3, "oversize"),
        ("inspection:\n  max_bodybytes: 5\n", 3, "max_body_bytes"),
        ("destinations:\n  - host: a.example\n    inspection:\n      maxbody: 1\n", 5,
         "max_body_bytes"),
        (LOCATED.format(detector="aws_acces_key", locations="[header:authorization]",
                        action="allow"), 6, "aws_access_key"),
        (LOCATED.format(detector="aws_access_key", locations="[authorization]",
                        action="allow"), 7, "names no part of a request"),
        (LOCATED.format(detector="aws_access_key", locations="[]", action="allow"), 7,
         "locations: must not be empty"),
        (LOCATED.format(detector="aws_access_key", locations="[body]", action="allow")
         + "          where: header\n", 9, "unknown key 'where'"),
        (LOCATED.format(detector="aws_access_key", locations="[body]", action="pass"), 8,
         "'pass'"),
    ],
)
def test_inspection_errors_have_lines(body: str, line: int, fragment: str) -> None:
    with pytest.raises(RuleFileError) as caught:
        load_rules_text("version: 1\n" + body, "bad.yaml")
    text = str(caught.value)
    assert f"bad.yaml:{line}:" in text, text
    assert fragment in text, text
