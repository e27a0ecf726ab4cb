"""The only values a metric label can take: fixed enums, with one catch-all.

A label that took a host, a path or a found value would be unbounded (one series per value, until
Prometheus falls over) and would publish what the audit log is careful never to write. Every label
value goes through `bounded`, which maps anything it does not know to `OTHER`.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from proxy.inspection.detectors import DETECTORS_BY_ID
from proxy.policy.reasons import NEVER_MONITORED, Reason

OTHER = "other"


class Decision(StrEnum):
    ALLOW = "allow"
    BLOCK = "block"
    WOULD_BLOCK = "would_block"  # monitor mode let a block through


class Kind(StrEnum):
    """What an audit line is about (the audit line's `kind`)."""

    HTTP = "http"
    CONNECT = "connect"
    WEBSOCKET = "websocket"


class FindingAction(StrEnum):
    ALERT = "alert"
    REDACT = "redact"
    BLOCK = "block"
    WOULD_BLOCK = "would_block"  # a blocking finding that monitor mode let through


class Direction(StrEnum):
    UP = "up"  # from the sandbox
    DOWN = "down"  # to the sandbox


class Component(StrEnum):
    """Where an internal error happened."""

    ALLOWLIST = "allowlist"
    TUNNEL = "tunnel"
    INSPECTION = "inspection"
    PINNING = "pinning"
    AUDIT = "audit"
    AUDIT_LOG = "audit_log"
    FRONT_DOOR = "front_door"
    ADMIN = "admin"
    DNS = "dns"


class EscalationState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    REVOKED = "revoked"


class ReloadResult(StrEnum):
    OK = "ok"
    FAILED = "failed"


REASONS: tuple[str, ...] = tuple(reason.value for reason in Reason)
DETECTORS: tuple[str, ...] = tuple(sorted(DETECTORS_BY_ID))
# Reasons monitor mode can turn into a would-block (the others always block).
MONITORABLE_REASONS: tuple[str, ...] = tuple(
    reason.value for reason in Reason if reason not in NEVER_MONITORED and reason is not
    Reason.ALLOWED
)
BLOCK_REASONS: tuple[str, ...] = tuple(r for r in REASONS if r != Reason.ALLOWED.value)


def values(enum: Iterable[StrEnum]) -> tuple[str, ...]:
    return tuple(member.value for member in enum)


def bounded(value: object, allowed: frozenset[str]) -> str:
    """`value` if it is one of `allowed`, else `OTHER`: never an unknown string."""
    return value if isinstance(value, str) and value in allowed else OTHER
