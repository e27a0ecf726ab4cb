"""`decide_findings` as a table: actions by detector, severity, destination, PII thresholds."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from proxy.inspection.findings import Finding, Kind, Severity
from proxy.policy.findings_decision import decide_findings
from proxy.policy.model import (
    FindingAction,
    InspectionOverrides,
    InspectionPolicy,
    LocationAction,
    Mode,
)
from proxy.policy.reasons import Reason

A, B, R, L = (FindingAction.ALLOW, FindingAction.BLOCK, FindingAction.REDACT,
              FindingAction.ALERT)


def finding(detector: str, severity: Severity = Severity.HIGH, kind: Kind = Kind.SECRET,
            value_hash: str = "0" * 64, location: str = "body") -> Finding:
    return Finding(detector=detector, kind=kind, severity=severity, location=location,
                   layers=(), keyed_hash=value_hash, preview="ab…(20)")


def emails(count: int) -> list[Finding]:
    return [finding("email", Severity.LOW, Kind.PII, f"{i:064x}") for i in range(count)]


def policy(**actions: FindingAction) -> InspectionPolicy:
    return InspectionPolicy(actions=MappingProxyType(actions))


NONE = InspectionOverrides()
# An S3-like destination: SigV4 signs with the access key id in `Authorization`.
SIGV4 = InspectionOverrides(location_actions=(
    LocationAction(key="aws_access_key", locations=("header:authorization",), action=A),
    LocationAction(key="aws_secret_key", locations=("header:x-amz-*",), action=A),
))

CASES = {
    "no findings": ([], InspectionPolicy(), NONE, A, None),
    "high secret blocks by default": ([finding("aws_access_key")], InspectionPolicy(), NONE, B,
                                      Reason.SECRET_DETECTED),
    "low severity alerts by default": ([finding("x", Severity.LOW)], InspectionPolicy(), NONE,
                                       L, None),
    "detector action in file": ([finding("jwt")], policy(jwt=R), NONE, R,
                                Reason.SECRET_DETECTED),
    "severity action in file": ([finding("jwt")], policy(high=L), NONE, L, None),
    "detector beats severity": ([finding("jwt")], policy(high=L, jwt=B), NONE, B,
                                Reason.SECRET_DETECTED),
    "destination allows its own key": (
        [finding("anthropic_api_key")], InspectionPolicy(),
        InspectionOverrides(actions=MappingProxyType({"anthropic_api_key": A})), A, None),
    "destination allow does not cover another key": (
        [finding("anthropic_api_key"), finding("aws_access_key")], InspectionPolicy(),
        InspectionOverrides(actions=MappingProxyType({"anthropic_api_key": A})), B,
        Reason.SECRET_DETECTED),
    "strongest action wins": ([finding("a"), finding("b")], policy(a=R, b=B), NONE, B,
                              Reason.SECRET_DETECTED),
    "exempt hash": ([finding("aws_access_key", value_hash="f" * 64)],
                    InspectionPolicy(exempt_hashes=frozenset({"f" * 64})), NONE, A, None),
    # location_actions: a detector (or severity) allowed in some locations only
    "key allowed in its header": (
        [finding("aws_access_key", location="header:authorization")], InspectionPolicy(),
        SIGV4, A, None),
    "the same key in the body": (
        [finding("aws_access_key", location="body:$.note")], InspectionPolicy(), SIGV4, B,
        Reason.SECRET_DETECTED),
    "in the header and in the body": (
        [finding("aws_access_key", location="header:authorization"),
         finding("aws_access_key", location="body")], InspectionPolicy(), SIGV4, B,
        Reason.SECRET_DETECTED),
    "another detector in the header": (
        [finding("jwt", location="header:authorization")], InspectionPolicy(), SIGV4, B,
        Reason.SECRET_DETECTED),
    "a header of a similar name": (
        [finding("aws_access_key", location="header:authorization-x")], InspectionPolicy(),
        SIGV4, B, Reason.SECRET_DETECTED),
    "headers joined (a key split over two)": (
        [finding("aws_access_key", location="header:*")], InspectionPolicy(), SIGV4, B,
        Reason.SECRET_DETECTED),
    "wildcard location": (
        [finding("aws_secret_key", location="header:x-amz-security-token")], InspectionPolicy(),
        SIGV4, A, None),
    "severity rule in a location": (
        [finding("jwt", location="header:x-registry-auth")], InspectionPolicy(),
        InspectionOverrides(location_actions=(
            LocationAction(key="high", locations=("header:x-registry-*",), action=A),)),
        A, None),
    "detector rule before severity rule": (
        [finding("jwt", location="header:authorization")], InspectionPolicy(),
        InspectionOverrides(location_actions=(
            LocationAction(key="high", locations=("header:*",), action=A),
            LocationAction(key="jwt", locations=("header:authorization",), action=L))),
        L, None),
    "location rule before the destination's actions": (
        [finding("aws_access_key", location="header:authorization")], InspectionPolicy(),
        InspectionOverrides(location_actions=SIGV4.location_actions,
                            actions=MappingProxyType({"aws_access_key": B})), A, None),
    "exempt hash still first": (
        [finding("aws_access_key", value_hash="f" * 64, location="body")],
        InspectionPolicy(exempt_hashes=frozenset({"f" * 64})), SIGV4, A, None),
    "one email is normal": (emails(1), policy(email=B), NONE, L, None),
    "nine emails below threshold": (emails(9), policy(email=B), NONE, L, None),
    "ten emails block": (emails(10), policy(email=B), NONE, B, Reason.PII_DETECTED),
    "ten emails block by default": (emails(10), InspectionPolicy(), NONE, B,
                                    Reason.PII_DETECTED),
    "nine emails alert by default": (emails(9), InspectionPolicy(), NONE, L, None),
    "emails set to alert stay alert": (emails(50), policy(email=L), NONE, L, None),
    "same email ten times is one": ([finding("email", Severity.LOW, Kind.PII)] * 10,
                                    policy(email=B), NONE, L, None),
    "one card blocks": ([finding("payment_card", Severity.HIGH, Kind.PII)], InspectionPolicy(),
                        NONE, B, Reason.PII_DETECTED),
    "custom pii threshold": (emails(3), InspectionPolicy(
        actions=MappingProxyType({"email": B}), pii_thresholds=MappingProxyType({"email": 3})),
        NONE, B, Reason.PII_DETECTED),
}


@pytest.mark.parametrize(("findings", "inspection", "overrides", "action", "reason"),
                         CASES.values(), ids=CASES.keys())
def test_decide_findings(findings: list[Finding], inspection: InspectionPolicy,
                         overrides: InspectionOverrides, action: FindingAction,
                         reason: Reason | None) -> None:
    decision = decide_findings(findings, inspection, overrides, Mode.ENFORCE)
    assert decision.action is action
    assert decision.reason is reason


def test_monitor_mode_turns_a_block_into_an_alert() -> None:
    decision = decide_findings([finding("aws_access_key")], InspectionPolicy(), NONE,
                               Mode.MONITOR)
    assert decision.action is FindingAction.ALERT and decision.would_block
    assert decision.reason is Reason.SECRET_DETECTED
