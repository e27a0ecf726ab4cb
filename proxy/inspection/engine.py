"""From texts to findings: peel each text's hidden layers, scan every layer, describe each match.

The values found are held in `Hit`s only while the request is in hand (to redact them); what
leaves this module for logs, metrics and answers is the `Finding`, which has no value in it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from proxy.inspection.decoders import DecodeLimitExceeded, Layer, peel
from proxy.inspection.detectors import DETECTORS_BY_ID, SCAN_LIMIT_ID
from proxy.inspection.findings import Finding, Match
from proxy.inspection.redact_values import keyed_hash, mask
from proxy.inspection.scanner import Scanner

# Catch-all detectors: when a specific detector names the same value, the specific one speaks.
GENERIC_DETECTORS = frozenset({"high_entropy_assignment"})
REDACTED = "[REDACTED:{detector}]"

MIN_PEEL_BUDGET = 64 * 1024  # bytes of decoded text a short input may produce
PEEL_BUDGET_FACTOR = 4  # decoded text allowed per input byte beyond that
MAX_PEEL_BUDGET = 32 * 1024 * 1024


@dataclass(frozen=True)
class Text:
    """One thing a request sends: where it is, and what it says."""

    location: str
    text: str
    peel: bool = True


@dataclass(frozen=True)
class Hit:
    finding: Finding
    value: str  # never logged; used to redact, then dropped with the request


@dataclass(frozen=True)
class Inspection:
    hits: tuple[Hit, ...]
    limit_reached: bool  # a scan stopped at its candidate cap: the caller fails closed

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(hit.finding for hit in self.hits)


def inspect_texts(texts: Iterable[Text], scanner: Scanner, key: bytes, *,
                  max_depth: int) -> Inspection:
    hits: list[Hit] = []
    seen: set[tuple[str, str, str]] = set()  # (location, detector, value): one finding each
    limit_reached = False
    for text in texts:
        variants: Iterable[Layer] = (
            peel(text.text, max_depth=max_depth, max_bytes=_budget(text.text))
            if text.peel else (Layer(text=text.text, layers=()),)
        )
        try:
            for variant in variants:
                limit_reached |= _scan_variant(text, variant, scanner, key=key, hits=hits,
                                               seen=seen)
        except DecodeLimitExceeded:
            # Decoys enough to exhaust the budget could hide the one layer that matters.
            limit_reached = True
    return Inspection(hits=_most_specific(hits), limit_reached=limit_reached)


def _scan_variant(text: Text, variant: Layer, scanner: Scanner, *, key: bytes,
                  hits: list[Hit], seen: set[tuple[str, str, str]]) -> bool:
    """Add the variant's hits; True when the scan stopped at its candidate cap."""
    limit_reached = False
    for match in _specific_first(scanner.scan(variant.text)):
        if match.detector == SCAN_LIMIT_ID:
            limit_reached = True
            continue
        if (text.location, match.detector, match.value) in seen:
            continue
        seen.add((text.location, match.detector, match.value))
        finding = _finding(match.detector, match.value, text.location, variant.layers, key)
        hits.append(Hit(finding=finding, value=match.value))
    return limit_reached


def _most_specific(hits: list[Hit]) -> tuple[Hit, ...]:
    """One hit per detector, value and channel: the one at the most precise location.

    A value in a JSON field is also seen in the whole-body text and in joined fields; the field's
    own location tells the agent what to remove. The same value in a header and in the body is
    two hits: both must be removed (or redacted).
    """
    best: dict[tuple[str, str, str], Hit] = {}
    for hit in hits:
        key = (hit.finding.detector, hit.value, _channel(hit.finding.location))
        current = best.get(key)
        if current is None or _precision(hit) > _precision(current):
            best[key] = hit
    return tuple(best.values())


def _channel(location: str) -> str:
    channel = location.split(":", 1)[0]
    return "body" if channel in ("body", "form", "multipart") else channel


def _precision(hit: Hit) -> tuple[int, int]:
    location = hit.finding.location
    vague = location == "body" or location.endswith("*")
    return (0 if vague else 1, -len(hit.finding.layers))


def _specific_first(matches: list[Match]) -> list[Match]:
    """Drop a generic match that overlaps a specific one: one value, one finding."""
    specific = [m for m in matches if m.detector not in GENERIC_DETECTORS]
    return specific + [
        m for m in matches
        if m.detector in GENERIC_DETECTORS
        and not any(s.start < m.end and m.start < s.end for s in specific)
    ]


def scrub(text: str, scanner: Scanner) -> str:
    """`text` with every value a detector finds replaced: for what must be logged (paths, hosts)."""
    matches = [m for m in _specific_first(scanner.scan(text))
               if m.detector != SCAN_LIMIT_ID and m.value]
    cut = len(text)
    for match in sorted(matches, key=lambda m: m.start, reverse=True):
        if match.end > cut:  # overlaps a later match already replaced
            continue
        text = text[:match.start] + REDACTED.format(detector=match.detector) + text[match.end:]
        cut = match.start
    return text


def _budget(text: str) -> int:
    return min(MAX_PEEL_BUDGET, max(MIN_PEEL_BUDGET, PEEL_BUDGET_FACTOR * len(text)))


def _finding(detector_id: str, value: str, location: str, layers: tuple[str, ...],
             key: bytes) -> Finding:
    detector = DETECTORS_BY_ID[detector_id]
    return Finding(
        detector=detector_id,
        kind=detector.kind,
        severity=detector.severity,
        location=location,
        layers=layers,
        keyed_hash=keyed_hash(value, key),
        preview=mask(value),
    )
