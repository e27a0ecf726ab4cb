"""The canonical audit line: field names as constants, one JSON object per decision."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

# Field names are a contract with whoever reads the log (docs/audit.md): add, never rename.
F_TIME = "time"
F_REQUEST_ID = "request_id"
F_KIND = "kind"
F_STAGE = "stage"
F_CLIENT = "client"
F_METHOD = "method"
F_SCHEME = "scheme"
F_HOST = "host"
F_PORT = "port"
F_PATH = "path"
F_DECISION = "decision"
F_REASON = "reason"
F_RULE = "rule"
F_BYTES_UP = "bytes_up"
F_BYTES_DOWN = "bytes_down"
F_DURATION_MS = "duration_ms"
F_STATUS = "status"
F_HEADERS = "headers"
F_FINDINGS = "findings"
# The chain (proxy/audit/chain.py): appended to every line by the log writer, in this order.
F_SEQ = "seq"
F_PREV = "prev"
F_HMAC = "hmac"
# Lines the log writes about itself (kind "chain"): start, rotate, stop.
F_EVENT = "event"
KIND_CHAIN = "chain"
CHAIN_FIELDS: tuple[str, ...] = (F_SEQ, F_PREV, F_HMAC)

# Only these request headers are logged, and only their first MAX_HEADER_VALUE characters:
# anything else (cookies, auth, custom tokens) may carry a secret.
LOGGED_HEADERS: tuple[str, ...] = ("user-agent", "content-type", "content-length", "accept")
MAX_HEADER_VALUE = 200
MAX_HOST = 255
MAX_PATH = 1024


def path_without_query_values(target: str) -> str:
    """Keep the path and the query's keys; drop every value (values are where secrets go)."""
    # Not urlsplit: it reads "//host/x" as a network location.
    path_part, _, query = target.partition("?")
    path = path_part.split("#", 1)[0][:MAX_PATH]
    if not query:
        return path
    keys = [key for key, _ in parse_qsl(query.split("#", 1)[0], keep_blank_values=True)]
    return path + "?" + "&".join(f"{key[:64]}=" for key in keys[:50])


@dataclass(kw_only=True)
class AuditRecord:
    request_id: str
    kind: str  # "http" | "connect" | "tcp"
    stage: str
    client: str
    host: str | None
    port: int | None
    decision: str  # "allow" | "block" | "would_block"
    reason: str
    rule: str | None
    method: str | None = None
    scheme: str | None = None
    path: str | None = None
    status: int | None = None
    bytes_up: int = 0
    bytes_down: int = 0
    started: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    findings: list[dict[str, object]] = field(default_factory=list)

    def to_line(self, now: float) -> str:
        line = {
            F_TIME: round(now, 6),
            F_REQUEST_ID: self.request_id,
            F_KIND: self.kind,
            F_STAGE: self.stage,
            F_CLIENT: self.client,
            F_METHOD: self.method,
            F_SCHEME: self.scheme,
            F_HOST: None if self.host is None else self.host[:MAX_HOST],
            F_PORT: self.port,
            F_PATH: self.path,
            F_DECISION: self.decision,
            F_REASON: self.reason,
            F_RULE: self.rule,
            F_STATUS: self.status,
            F_BYTES_UP: self.bytes_up,
            F_BYTES_DOWN: self.bytes_down,
            F_DURATION_MS: round(max(0.0, now - self.started) * 1000, 3),
            F_HEADERS: self.headers,
            F_FINDINGS: self.findings,
        }
        return json.dumps(line, separators=(",", ":"), ensure_ascii=True)


# DNS lines (kind "dns"): the fields above where they mean the same, and these.
F_NAME = "name"
F_TYPE = "type"
F_TRANSPORT = "transport"
F_RCODE = "rcode"
F_ANSWERS = "answers"
F_LATENCY_MS = "latency_ms"
F_SIGNALS = "signals"
F_FORWARDED = "forwarded"
F_DROPPED = "dropped"
MAX_DNS_NAME = 300


@dataclass(kw_only=True)
class DnsAuditRecord:
    """One DNS question and what became of it (docs/audit.md, "DNS lines")."""

    request_id: str
    client: str
    transport: str  # "udp" | "tcp"
    name: str | None  # presentation form, payload-looking labels masked; None: unreadable
    qtype: str | None
    decision: str  # "allow" | "block" | "would_block"
    reason: str
    rule: str | None = None
    rcode: str | None = None  # what the client was answered; None: nothing was sent (dropped)
    answers: list[str] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)
    forwarded: bool = False
    dropped: int = 0  # rate-limited datagrams this line stands for (summary lines only)
    started: float = 0.0  # monotonic-free: time.time() when the packet arrived

    def to_line(self, now: float) -> str:
        line = {
            F_TIME: round(now, 6),
            F_REQUEST_ID: self.request_id,
            F_KIND: "dns",
            F_CLIENT: self.client,
            F_TRANSPORT: self.transport,
            F_NAME: None if self.name is None else self.name[:MAX_DNS_NAME],
            F_TYPE: self.qtype,
            F_DECISION: self.decision,
            F_REASON: self.reason,
            F_RULE: self.rule,
            F_RCODE: self.rcode,
            F_ANSWERS: self.answers,
            F_SIGNALS: self.signals,
            F_FORWARDED: self.forwarded,
            F_DROPPED: self.dropped,
            F_LATENCY_MS: round(max(0.0, now - self.started) * 1000, 3),
        }
        return json.dumps(line, separators=(",", ":"), ensure_ascii=True)
