"""What a detector reports: never the value, only a keyed hash and a masked preview."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum


class Severity(IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()


class Kind(StrEnum):
    SECRET = "secret"  # noqa: S105 (a kind of finding, not a password)
    PII = "pii"


@dataclass(frozen=True, kw_only=True)
class Match:
    """A validated hit inside one text. Holds the value only while the request is in hand."""

    detector: str  # stable detector id, e.g. "aws_access_key"
    start: int  # offsets in the scanned text
    end: int
    value: str


@dataclass(frozen=True, kw_only=True)
class Finding:
    """A match as it may be logged, counted, answered and escalated: no value in it."""

    detector: str
    kind: Kind
    severity: Severity
    location: str  # "url.path", "query:token", "header:authorization", "body:$.a[0].b", "ws:3"
    layers: tuple[str, ...]  # decodings peeled to reach it, outermost first: ("base64", "gzip")
    keyed_hash: str  # HMAC-SHA256 of the value under the deployment's key, hex
    preview: str  # masked: a few leading characters, then the length, e.g. "AKIA…(20)"
