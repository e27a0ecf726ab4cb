"""Apply a block to a flow: the 403 JSON answer, and the decision recorded for the audit line."""

from __future__ import annotations

from collections.abc import Sequence

from mitmproxy import http

from addons.state import new_request_id
from proxy.blocking import BLOCK_STATUS, Target, block_body, block_headers
from proxy.inspection.findings import Finding
from proxy.policy.decision import Decision
from proxy.policy.reasons import Action, Reason

META_DECISION = "glassbreak.decision"
META_REQUEST_ID = "glassbreak.request_id"
META_STAGE = "glassbreak.stage"

INTERNAL_ERROR = Decision(action=Action.BLOCK, reason=Reason.INTERNAL_ERROR)


def request_id_of(flow: http.HTTPFlow) -> str:
    request_id = flow.metadata.get(META_REQUEST_ID)
    if not isinstance(request_id, str):
        request_id = new_request_id()
        flow.metadata[META_REQUEST_ID] = request_id
    return request_id


def record_decision(flow: http.HTTPFlow, decision: Decision, stage: str) -> None:
    flow.metadata[META_DECISION] = decision
    flow.metadata[META_STAGE] = stage


def refuse(flow: http.HTTPFlow, decision: Decision, stage: str,
           findings: Sequence[Finding] = ()) -> None:
    """Answer the client with the block response; nothing goes upstream."""
    record_decision(flow, decision, stage)
    request_id = request_id_of(flow)
    target = Target(
        host=decision.host or flow.request.host,
        port=flow.request.port,
        scheme=flow.request.scheme if stage != "connect" else None,
        method=flow.request.method,
    )
    flow.response = http.Response.make(
        BLOCK_STATUS,
        block_body(decision, target, request_id, findings),
        block_headers(decision, request_id),
    )


def refuse_internal_error(_addon: object, flow: http.HTTPFlow) -> None:
    stage = flow.metadata.get(META_STAGE, "request")
    refuse(flow, INTERNAL_ERROR, stage if isinstance(stage, str) else "request")


def kill_flow(_addon: object, flow: http.HTTPFlow) -> None:
    """When a hook on the answer fails: drop the connection rather than relay what it judged."""
    if flow.killable:
        flow.kill()
