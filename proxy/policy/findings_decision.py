"""`decide_findings`: what the findings of one request mean under the rules. Pure, like `decide`.

Each finding gets an action from, in order: an exemption by keyed hash; the destination's
`inspection.location_actions` (detector id, then severity, where the finding's location is one
listed); the destination's `inspection.actions` (detector id, then severity); the file's
`inspection.actions` (detector id, then severity); DEFAULT_ACTIONS for secrets, block for
personal data. A PII detector below its threshold of distinct values in the request is at most
alerted. The strongest action over all findings is the request's; monitor mode turns block and
redact into a logged would-block.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from proxy.inspection.findings import Finding, Kind, Severity
from proxy.policy.model import (
    FindingAction,
    InspectionOverrides,
    InspectionPolicy,
    LocationAction,
    Mode,
)
from proxy.policy.reasons import Reason

DEFAULT_ACTIONS: Mapping[Severity, FindingAction] = {
    Severity.CRITICAL: FindingAction.BLOCK,
    Severity.HIGH: FindingAction.BLOCK,
    Severity.MEDIUM: FindingAction.BLOCK,
    Severity.LOW: FindingAction.ALERT,
}
# Distinct values of a PII type in one request from which its action applies.
DEFAULT_PII_THRESHOLDS: Mapping[str, int] = {
    "email": 10,
    "phone_number": 10,
    "payment_card": 1,
    "us_ssn": 1,
    "iban": 1,
}


@dataclass(frozen=True, kw_only=True)
class JudgedFinding:
    finding: Finding
    action: FindingAction


@dataclass(frozen=True, kw_only=True)
class FindingsDecision:
    action: FindingAction  # the strongest over all findings (ALLOW when there are none)
    reason: Reason | None  # SECRET_DETECTED or PII_DETECTED when action is above ALERT
    judged: tuple[JudgedFinding, ...]
    would_block: bool = False  # monitor mode turned a block or redact into an alert

    @property
    def reportable(self) -> tuple[JudgedFinding, ...]:
        """Findings worth a line and a count: everything not allowed outright."""
        return tuple(j for j in self.judged if j.action is not FindingAction.ALLOW)


def decide_findings(
    findings: Sequence[Finding],
    policy: InspectionPolicy,
    overrides: InspectionOverrides,
    mode: Mode,
) -> FindingsDecision:
    distinct: dict[str, set[str]] = defaultdict(set)
    for finding in findings:
        distinct[finding.detector].add(finding.keyed_hash)
    judged = tuple(
        JudgedFinding(finding=f, action=_action(f, policy, overrides, len(distinct[f.detector])))
        for f in findings
    )
    strongest = max((j.action for j in judged), key=lambda a: a.strength,
                    default=FindingAction.ALLOW)
    reason = _reason(judged, strongest)
    if mode is Mode.MONITOR and strongest.strength > FindingAction.ALERT.strength:
        return FindingsDecision(action=FindingAction.ALERT, reason=reason, judged=judged,
                                would_block=True)
    return FindingsDecision(action=strongest, reason=reason, judged=judged)


def _action(finding: Finding, policy: InspectionPolicy, overrides: InspectionOverrides,
            distinct_values: int) -> FindingAction:
    if finding.keyed_hash in policy.exempt_hashes:
        return FindingAction.ALLOW
    action = (_located(finding, overrides.location_actions)
              or _configured(finding, overrides.actions)
              or _configured(finding, policy.actions))
    if action is None:
        # Personal data is judged by volume: its threshold decides, whatever its severity.
        pii = finding.kind is Kind.PII
        action = FindingAction.BLOCK if pii else DEFAULT_ACTIONS[finding.severity]
    if finding.kind is Kind.PII and action.strength > FindingAction.ALERT.strength:
        threshold = policy.pii_thresholds.get(
            finding.detector, DEFAULT_PII_THRESHOLDS.get(finding.detector, 1))
        if distinct_values < threshold:
            return FindingAction.ALERT
    return action


def _located(finding: Finding, rules: Sequence[LocationAction]) -> FindingAction | None:
    """The action of the first rule for the finding's detector, then of the first for its
    severity, whose locations hold the finding's."""
    for key in (finding.detector, finding.severity.label):
        for rule in rules:
            if rule.key == key and rule.covers(finding.location):
                return rule.action
    return None


def _configured(finding: Finding, actions: Mapping[str, FindingAction]) -> FindingAction | None:
    return actions.get(finding.detector) or actions.get(finding.severity.label)


def _reason(judged: Sequence[JudgedFinding], strongest: FindingAction) -> Reason | None:
    if strongest.strength <= FindingAction.ALERT.strength:
        return None
    deciding = [j.finding for j in judged if j.action is strongest]
    if any(f.kind is Kind.SECRET for f in deciding):
        return Reason.SECRET_DETECTED
    return Reason.PII_DETECTED
