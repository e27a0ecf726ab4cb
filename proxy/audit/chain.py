"""The HMAC chain that makes the audit log tamper-evident.

Every line ends with `"seq":N,"prev":"<hmac of line N-1>","hmac":"<hmac of this line>"`. The HMAC
(SHA-256, keyed by the state directory's `audit.key`) covers the exact bytes of the line up to the
`,"hmac":` suffix, `prev` included: a line cannot be edited, inserted, removed or moved without
breaking the chain, and nobody without the key can write a line that fits. Signing the bytes as
written (rather than a re-serialisation) makes the check independent of JSON formatting.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from proxy.audit.record import F_EVENT, F_HMAC, F_KIND, F_PREV, F_SEQ, F_TIME, KIND_CHAIN

GENESIS = "0" * 64  # `prev` of the very first line of a chain
MAC_HEX = 64
_MAC_PREFIX = f',"{F_HMAC}":"'
_SUFFIX_LENGTH = len(_MAC_PREFIX) + MAC_HEX + 2  # ,"hmac":"<64 hex>"}


class ChainEvent:
    """A line the log writes about itself: a process start, a rotation, a clean stop."""

    START = "start"
    ROTATE = "rotate"
    STOP = "stop"

    def __init__(self, event: str, **fields: object) -> None:
        self.event = event
        self.fields = fields

    def to_line(self, now: float) -> str:
        line = {F_TIME: round(now, 6), F_KIND: KIND_CHAIN, F_EVENT: self.event, **self.fields}
        return json.dumps(line, separators=(",", ":"), ensure_ascii=True)


def mac_of(key: bytes, signed: str) -> str:
    return hmac.new(key, signed.encode("utf-8"), hashlib.sha256).hexdigest()


def seal(body: str, seq: int, prev: str, key: bytes) -> tuple[str, str]:
    """(the chained line, its HMAC) for a JSON object `body` as written by a record's to_line."""
    if not (body.startswith("{") and body.endswith("}")):
        raise ValueError("an audit line must be one JSON object")
    separator = "," if body != "{}" else ""
    signed = f'{body[:-1]}{separator}"{F_SEQ}":{seq},"{F_PREV}":"{prev}"'
    mac = mac_of(key, signed)
    return f"{signed}{_MAC_PREFIX}{mac}" + '"}', mac


@dataclass(frozen=True, kw_only=True)
class Sealed:
    """A line whose HMAC checks out under the key."""

    seq: int
    prev: str
    mac: str
    fields: dict[str, Any]

    @property
    def event(self) -> str | None:
        if self.fields.get(F_KIND) != KIND_CHAIN:
            return None
        event = self.fields.get(F_EVENT)
        return event if isinstance(event, str) else None


class BrokenLine(ValueError):
    """A line that is not a sealed audit line, or whose HMAC does not match."""


def open_line(line: str, key: bytes) -> Sealed:
    """Check one line (without its newline) and return its chain fields; raise BrokenLine."""
    if len(line) < _SUFFIX_LENGTH or not line.endswith('"}'):
        raise BrokenLine("not a sealed audit line")
    signed, suffix = line[:-_SUFFIX_LENGTH], line[-_SUFFIX_LENGTH:]
    if not suffix.startswith(_MAC_PREFIX):
        raise BrokenLine("no hmac at the end of the line")
    claimed = suffix[len(_MAC_PREFIX):-2]
    if not hmac.compare_digest(mac_of(key, signed), claimed):
        raise BrokenLine("the HMAC does not match the line's content")
    try:
        fields = json.loads(line)
    except ValueError as error:  # only a key holder could have sealed this: still refuse it
        raise BrokenLine("not JSON") from error
    if not isinstance(fields, dict):
        raise BrokenLine("not a JSON object")
    seq, prev = fields.get(F_SEQ), fields.get(F_PREV)
    if not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(prev, str):
        raise BrokenLine("no seq/prev fields")
    return Sealed(seq=seq, prev=prev, mac=claimed, fields=fields)
