"""From texts to findings: peel each text's hidden layers, scan every layer, describe each match.

The values found are held in `Hit`s only while the request is in hand (to redact them); what
leaves this module for logs, metrics and answers is the `Finding`, which has no value in it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from proxy.inspection.byte_readings import reads_personal_data
from proxy.inspection.clean_texts import CleanKey, CleanTexts
from proxy.inspection.cpu_budget import CpuBudget
from proxy.inspection.decoders import DecodeLimitExceeded, Layer, peel
from proxy.inspection.detectors import DETECTORS_BY_ID, SCAN_LIMIT_ID
from proxy.inspection.fields import Field
from proxy.inspection.findings import Finding, Kind, Match
from proxy.inspection.layers import (
    MAX_PEEL_BUDGET,
    MAX_REMEMBERED_RUN,
    PEEL_BUDGET_FACTOR,
    OpenedRuns,
)
from proxy.inspection.peel_hints import hint_of, with_peel_hints
from proxy.inspection.redact_values import keyed_hash, mask
from proxy.inspection.root_hints import RootHints
from proxy.inspection.scanner import Scanner
from proxy.inspection.transforms import (
    REJOINED,
    SWAPCASE,
    TRANSFORMS,
    reported_in_rewrite,
    upper_ascii,
)

# The mark of a case-folded value in `seen` (no value holds a NUL: no pattern takes one)
_FOLDED = "\x00"
# Catch-all detectors: when a specific detector names the same value, the specific one speaks.
GENERIC_DETECTORS = frozenset({"high_entropy_assignment"})
REDACTED = "[REDACTED:{detector}]"

MIN_PEEL_BUDGET = 64 * 1024  # bytes of decoded text a short input may produce (see
# layers.PEEL_BUDGET_FACTOR for the rest)
BATCH_CHARS = 1024 * 1024  # variants scanned in one pass, at most about this much text


# One thing a request sends: where it is, what it says, and whether to peel it. The body's
# fields are made as such already (fields.Field): one class, no copy of a hundred tuples.
Text = Field

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
                  max_depth: int, clean: CleanTexts | None = None,
                  cpu: CpuBudget | None = None) -> Inspection:
    """Peel and scan every text. `clean` (optional) skips texts found clean before and
    remembers the ones found clean now. `cpu` (optional) bounds the CPU the peeling may spend
    (cpu_budget.py); past it the texts left are not peeled and `limit_reached` is set, so the
    caller blocks rather than stalls every other request."""
    hits: list[Hit] = []
    # (location, detector, value): one finding each; and the value's case folded too: a value
    # found plain and again in the text case swapped (a random key of mixed case) is one value
    seen: set[tuple[str, str, str]] = set()
    limit_reached = False
    for batch in _variant_batches(texts, max_depth, clean, cpu):
        limit_reached |= batch.limit_reached
        variant_texts = [variant.text for _, variant in batch.variants]
        results, rewrites = scanner.scan_many_and_rewrites(variant_texts)
        for (index, variant), matches in zip(batch.variants, results, strict=True):
            if matches:
                batch.dirty.add(index)
                limit_reached |= _add_hits(batch.texts[index], variant, matches, key=key,
                                           hits=hits, seen=seen)
        for position, rewrite, matches in rewrites:
            index, variant = batch.variants[position]
            batch.dirty.add(index)
            rewritten = Layer(variant.text, (*variant.layers, rewrite))
            limit_reached |= _add_hits(batch.texts[index], rewritten, matches, key=key,
                                       hits=hits, seen=seen)
        if clean is not None:
            for index, digest in batch.digests.items():
                if index not in batch.dirty:
                    clean.add(digest)
    return Inspection(hits=_most_specific(hits), limit_reached=limit_reached)


@dataclass
class _Batch:
    """Texts and their peeled variants, scanned in one pass."""

    texts: list[Text] = field(default_factory=list)
    variants: list[tuple[int, Layer]] = field(default_factory=list)  # (index in texts, variant)
    digests: dict[int, CleanKey] = field(default_factory=dict)  # clean-cache keys, by text index
    dirty: set[int] = field(default_factory=set)  # texts with a match or a peel limit
    limit_reached: bool = False
    size: int = 0  # characters of variants


def _variant_batches(texts: Iterable[Text], max_depth: int, clean: CleanTexts | None,
                     cpu: CpuBudget | None = None) -> Iterator[_Batch]:
    """Every text not known clean and its peeled variants, in batches of about BATCH_CHARS
    characters. One scan per batch, not per variant: a request is mostly short texts, where
    the cost of a scan call outweighs the scanning. Once `cpu` is spent the batch is marked
    limit_reached and the texts left are dropped."""
    opened: OpenedRuns = {}  # decoded runs are opened once per request
    # A short text seen before in the request is peeled once: a tool call's id recurs in the
    # call and in its result. (variants, whether the peel stopped at its limit) by text. Long
    # texts are not kept: their variants would outlive the batch that scans them.
    peeled: dict[str, tuple[list[Layer], bool]] = {}
    if clean is not None and clean.max_entries <= 0:
        clean = None  # a cache that keeps nothing: no keys to compute
    batch = _Batch()
    for text, digest, (maybe, hints) in with_peel_hints(_not_known_clean(texts, clean)):
        if batch.size >= BATCH_CHARS:
            yield batch
            batch = _Batch()
        index = len(batch.texts)
        batch.texts.append(text)
        if digest is not None:
            batch.digests[index] = digest
        if not text.peel or (not maybe and text.text.isascii()):  # most texts: nothing to peel
            batch.variants.append((index, Layer(text.text, ())))
            batch.size += len(text.text)
            continue
        known = peeled.get(text.text)
        if known is None:
            if cpu is not None and cpu.spent():
                batch.limit_reached = True  # the caller blocks: what is left is not looked at
                break
            known = _peeled(text.text, max_depth, opened, maybe, hints, cpu=cpu)
            if len(text.text) <= MAX_REMEMBERED_RUN:
                peeled[text.text] = known
        variants, limited = known
        batch.variants.extend((index, variant) for variant in variants)
        batch.size += sum(len(variant.text) for variant in variants)
        if limited:
            # Decoys enough to exhaust the budget could hide the one layer that matters.
            batch.limit_reached = True
            batch.dirty.add(index)
    if batch.texts:
        yield batch


def _peeled(text: str, max_depth: int, opened: OpenedRuns, maybe: bool, hints: RootHints, *,
            cpu: CpuBudget | None = None) -> tuple[list[Layer], bool]:
    """The variants of `text` (itself first), and whether the peel stopped at its limit
    (those found before it are kept)."""
    variants: list[Layer] = []
    try:
        for variant in peel(text, max_depth=max_depth, max_bytes=_budget(text), opened=opened,
                            maybe=maybe, hints=hints, hinter=hint_of, cpu=cpu):
            variants.append(variant)
    except DecodeLimitExceeded:
        return variants, True
    return variants, False


def _not_known_clean(texts: Iterable[Text], clean: CleanTexts | None
                     ) -> Iterator[tuple[Text, CleanKey | None]]:
    """(text, its clean-cache key) for every text the cache does not know clean: those it does
    are dropped before any work is spent on them."""
    for text in texts:
        if clean is None:
            yield text, None
            continue
        digest = clean.digest(text.text, peel=text.peel)
        if digest not in clean:
            yield text, digest


def _add_hits(text: Text, variant: Layer, matches: list[Match], *, key: bytes,
              hits: list[Hit], seen: set[tuple[str, str, str]]) -> bool:
    """Add the variant's hits; True when its scan stopped at its candidate cap."""
    limit_reached = False
    secrets_only = is_joined(text.location) or not reads_personal_data(variant.layers)
    rewrite = variant.layers[-1] if is_rewritten(variant.layers) else None
    for match in _specific_first(matches):
        if match.detector == SCAN_LIMIT_ID:
            limit_reached = True
            continue
        detector = DETECTORS_BY_ID[match.detector]
        if secrets_only and detector.kind is Kind.PII:
            continue
        if rewrite is not None and not reported_in_rewrite(rewrite, detector, match.value):
            continue  # see transforms.py
        folded = (text.location, match.detector, _FOLDED + match.value.lower())
        if (text.location, match.detector, match.value) in seen or (
                rewrite == SWAPCASE and folded in seen):
            continue
        if rewrite == REJOINED and _seen_in_part(match, text.location, seen):
            continue
        seen.update(((text.location, match.detector, match.value), folded))
        finding = _finding(match.detector, match.value, text.location, variant.layers, key)
        hits.append(Hit(finding=finding, value=match.value))
    return limit_reached


def _seen_in_part(match: Match, location: str, seen: set[tuple[str, str, str]]) -> bool:
    """Whether a value found by gluing pieces (transforms.rejoined) is part of, or holds, a
    value the same detector found in the same channel: a key found whole, then again with the
    next word glued on, or found joined from JSON strings, then glued in part from the whole
    body. A different key (a decoy found plain beside a key cut by words) is still reported."""
    channel = _channel(location)
    return any(
        detector == match.detector and _channel(where) == channel
        and (value.startswith(match.value) or match.value.startswith(value))
        for where, detector, value in seen)


def is_joined(location: str) -> bool:
    """Whether a location is short strings joined together ("body:$.a[*]", "form:*", and
    "body:$.a[*].k" or "body:$.a.*.k", one key's values over the objects of an array or the
    member objects of an object: no name in a location holds "*", see
    fields.is_plain_name).

    Joins exist to catch a secret cut into pieces. Personal-data detectors are not applied
    there: zip codes or status codes joined together pass a card's Luhn check or look like a
    phone number or SSN about one time in ten, so a card or SSN split over fields is not caught.
    """
    return location.endswith("*") or "[*]" in location or ".*." in location


def is_rewritten(layers: tuple[str, ...]) -> bool:
    """Whether a variant is a rewritten text (reversed, rot13'd, case swapped, unspaced), where
    only some detectors are looked for (see proxy/inspection/transforms.py)."""
    return bool(layers) and layers[-1] in TRANSFORMS


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
    vague = location == "body" or is_joined(location)
    return (0 if vague else 1, -len(hit.finding.layers))


def _specific_first(matches: list[Match]) -> list[Match]:
    """Drop a generic match that overlaps a specific one: one value, one finding."""
    specific = [m for m in matches if m.detector not in GENERIC_DETECTORS]
    return specific + [
        m for m in matches
        if m.detector in GENERIC_DETECTORS
        and not any(s.start < m.end and m.start < s.end for s in specific)
    ]


def found_values(text: str, scanner: Scanner, *, any_case: bool = False) -> list[Match]:
    """Every value detectors find in `text` on its own (no peeling), without the marker of a
    scan that stopped at its cap. With `any_case` (for names, which are case-insensitive),
    also the credentials found in the text with its ASCII letters upper-cased, at the same
    offsets, as a case swap reports them (transforms.reported_in_rewrite): `akia...` sent in a
    name is an AWS key id read back, `asiapacificsoutheast` is words."""
    found = _values(scanner.scan(text))
    if any_case and (upper := upper_ascii(text)) != text:
        found += _read_back_from_upper_case(scanner.scan(upper))
    return found


def found_values_many(texts: Sequence[str], scanner: Scanner, *,
                      any_case: bool = False) -> list[list[Match]]:
    """`[found_values(t, scanner, any_case=any_case) for t in texts]`, with one scanner pass
    for all of them (Scanner.scan_many): a name's labels make a hundred short texts, where the
    fixed cost of a scan per text outweighs the scanning."""
    uppers = [upper_ascii(text) for text in texts] if any_case else list(texts)
    changed = [index for index, text in enumerate(texts) if uppers[index] != text]
    results = scanner.scan_many([*texts, *(uppers[index] for index in changed)])
    found = [_values(matches) for matches in results[:len(texts)]]
    for index, matches in zip(changed, results[len(texts):], strict=True):
        found[index] += _read_back_from_upper_case(matches)
    return found


def _values(matches: list[Match]) -> list[Match]:
    """The values found, without the marker of a scan that stopped at its cap."""
    return [m for m in matches if m.detector != SCAN_LIMIT_ID and m.value]


def _read_back_from_upper_case(matches: list[Match]) -> list[Match]:
    """The values found in a text upper-cased that a case swap reports (found_values)."""
    return [m for m in _values(matches)
            if reported_in_rewrite(SWAPCASE, DETECTORS_BY_ID[m.detector], m.value)]


def scrub(text: str, scanner: Scanner, *, any_case: bool = False) -> str:
    """`text` with every value a detector finds replaced (see found_values for `any_case`):
    for what must be logged (paths, hosts, names)."""
    matches = _specific_first(found_values(text, scanner, any_case=any_case))
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
