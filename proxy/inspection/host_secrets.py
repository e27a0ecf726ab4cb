"""Secrets in a destination's host name: `<key>.allowed-wildcard.example` is a channel too.

A name under an allowed wildcard is resolved (and its SNI and Host sent) before any request
body exists: a key written into the name would leave through the resolver and the TLS
handshake. So the name is scanned before it is resolved, dotted and with its labels joined
(a key cut into short labels, or split by hyphens), for credential detectors only: personal
data detectors would mistake the digits of ordinary hosts (`ec2-3-4-5-6`) for numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

from proxy.dns.secrets_in_names import secret_labels
from proxy.inspection.detectors import DETECTORS_BY_ID
from proxy.inspection.engine import found_values, found_values_many
from proxy.inspection.findings import Kind, Match
from proxy.inspection.layers import peel
from proxy.inspection.scanner import Scanner


def secret_in_host(host: str, scanner: Scanner) -> str | None:
    """The id of a credential detector that finds a value in `host` as the client wrote it,
    or upper-cased (names are case-insensitive: a key sent in lower case is read back in upper
    case, and many key formats are upper case), else None."""
    for spelling in dict.fromkeys((host, host.upper())):
        detector = _secret_in(spelling, scanner)
        if detector is not None:
            return detector
    return _secret_encoded_in(host, scanner)


MIN_PEELED_LABELS = 32  # characters of joined labels: a key's hex or base32 is longer
_PEEL_BYTES = 64 * 1024


def _secret_encoded_in(host: str, scanner: Scanner) -> str | None:
    """A credential written in hex or base32 over the labels left of the last two
    (`6768705f….785741….wild.example`): the labels joined, hyphens dropped, peeled. Such names
    passed under an allowed wildcard, as SNI and Host (red team exfil5)."""
    joined = "".join(host.split(".")[:-2]).replace("-", "")
    if len(joined) < MIN_PEELED_LABELS:
        return None
    for variant in peel(joined, max_depth=2, max_bytes=_PEEL_BYTES):
        if not variant.layers:
            continue  # the name as written: scanned above
        found = _secrets_found(variant.text, scanner)
        if found:
            return found[0][2]
    return None


def _secrets_found(text: str, scanner: Scanner) -> list[tuple[int, int, str]]:
    """(start, end, detector) of each credential a detector finds in `text` as written."""
    return _credentials(found_values(text, scanner))


def _credentials(matches: list[Match]) -> list[tuple[int, int, str]]:
    return [(m.start, m.end, m.detector) for m in matches
            if DETECTORS_BY_ID[m.detector].kind is Kind.SECRET]


def _secret_in(host: str, scanner: Scanner) -> str | None:
    found = _secrets_found(host, scanner)
    if found:
        return found[0][2]
    labels = tuple(label.encode("latin-1", "replace") for label in host.split("."))

    def find(texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
        return [_credentials(matches) for matches in found_values_many(texts, scanner)]

    covered = secret_labels(labels, find)
    return next(iter(covered.values()), None)
