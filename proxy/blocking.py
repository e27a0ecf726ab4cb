"""What an agent receives when it is refused: 403, a JSON body, and machine-readable headers.

Explicit messages: an agent that knows the boundary asks for an exception instead of guessing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from proxy.inspection.findings import Finding
from proxy.policy.decision import Decision
from proxy.policy.reasons import Reason

BLOCK_STATUS = 403
HEADER_DECISION = "X-Glassbreak-Decision"
HEADER_REASON = "X-Glassbreak-Reason"
HEADER_REQUEST_ID = "X-Glassbreak-Request-Id"

_EXPLANATIONS: dict[Reason, str] = {
    Reason.HOST_NOT_ALLOWED: "{host} is not on this sandbox's allowlist",
    Reason.DENIED_BY_RULE: "a rule explicitly denies {target}",
    Reason.PORT_NOT_ALLOWED: "{host} is allowed, but not on port {port}",
    Reason.SCHEME_NOT_ALLOWED: "{host} is allowed, but not over {scheme}",
    Reason.METHOD_NOT_ALLOWED: "{host} is allowed, but not the {method} method",
    Reason.PATH_NOT_ALLOWED: "{host} is allowed, but not this path",
    Reason.IP_LITERAL_NOT_ALLOWED: "IP-address destinations ({host}) need an explicit CIDR rule",
    Reason.INVALID_HOST: "the destination host is not a valid host name or address",
    Reason.RESOLUTION_FAILED: "{host} could not be resolved",
    Reason.PRIVATE_ADDRESS: "{host} resolves to a private or internal address",
    Reason.METADATA_ADDRESS: "{host} resolves to a cloud metadata address",
    Reason.PROXY_LOOP: "{host} resolves to the proxy itself",
    Reason.SNI_MISMATCH: "the TLS server name does not match the CONNECT target {host}",
    Reason.HOST_MISMATCH: "the Host header or URL authority does not match the target {host}",
    Reason.TUNNEL_NOT_TLS: "the tunnel to {host} carried bytes that are not TLS",
    Reason.PROTOCOL_NOT_HTTP: "the tunnel to {host} carried something other than HTTP",
    Reason.REQUEST_MALFORMED: "the request to {host} holds line breaks, NUL or a raw '#' where "
    "they could split it or change its path upstream",
    Reason.SECRET_DETECTED: "the request to {host} carries a secret (see findings)",
    Reason.PII_DETECTED: "the request to {host} carries personal data (see findings)",
    Reason.BODY_TOO_LARGE: "the request body to {host} is larger than inspection allows",
    Reason.BODY_UNDECODABLE: "the request body to {host} could not be decoded for inspection",
    Reason.INSPECTION_LIMIT: "the request to {host} holds too much to inspect",
    Reason.INTERNAL_ERROR: "Glassbreak hit an internal error and blocks by default",
}

_NOT_APPROVABLE = (
    "This block protects the network itself and cannot be approved; change the request."
)
_APPROVABLE = (
    "If this sandbox needs it, ask the operator for an exception (a rule change or a "
    "time-limited glass-break approval), quoting request id {request_id}."
)
_NETWORK_REASONS = frozenset(
    {
        Reason.PRIVATE_ADDRESS,
        Reason.METADATA_ADDRESS,
        Reason.PROXY_LOOP,
        Reason.SNI_MISMATCH,
        Reason.HOST_MISMATCH,
        Reason.REQUEST_MALFORMED,
        Reason.INVALID_HOST,
        Reason.INTERNAL_ERROR,
    }
)


@dataclass(frozen=True, kw_only=True)
class Target:
    """What the client asked for, for the sentence in the block response."""

    host: str
    port: int
    scheme: str | None = None
    method: str | None = None


def approvable(decision: Decision) -> bool:
    return not decision.final and decision.reason not in _NETWORK_REASONS


def explain(decision: Decision, target: Target, request_id: str) -> str:
    template = _EXPLANATIONS.get(decision.reason, "the request was blocked ({reason})")
    what = template.format(
        host=target.host,
        port=target.port,
        scheme=target.scheme or "this scheme",
        method=target.method or "this",
        target=f"{target.host}:{target.port}",
        reason=decision.reason.value,
    )
    follow_up = _APPROVABLE if approvable(decision) else _NOT_APPROVABLE
    return f"Blocked by Glassbreak: {what}. " + follow_up.format(request_id=request_id)


def block_headers(decision: Decision, request_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Cache-Control": "no-store",
        HEADER_DECISION: "block",
        HEADER_REASON: decision.reason.value,
        HEADER_REQUEST_ID: request_id,
    }


def block_body(decision: Decision, target: Target, request_id: str,
               findings: Sequence[Finding] = ()) -> bytes:
    body: dict[str, object] = {
        "decision": "block",
        "reason": decision.reason.value,
        "rule": decision.rule_id,
        "request_id": request_id,
        "approvable": approvable(decision),
        "message": explain(decision, target, request_id),
    }
    if findings:
        # What to remove, and where: detector, location and a masked preview, never the value.
        body["findings"] = [
            {"detector": f.detector, "location": f.location, "layers": list(f.layers),
             "preview": f.preview}
            for f in findings
        ]
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"
