"""Look inside every intercepted request and WebSocket message; block, redact or alert.

Runs after the allowlist allowed the request (or monitor mode let it through). A body that
cannot be read, is larger than the limit, or makes a scan hit its candidate cap is blocked:
nothing leaves unscanned unless a rule says `oversize: forward`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from mitmproxy import http

from addons.failclosed import fail_closed
from addons.redaction import RedactionImpossible, placeholder, redact_request
from addons.request_texts import decoded_body, request_texts
from addons.respond import META_DECISION, refuse, refuse_internal_error
from addons.state import Gate
from proxy.inspection.clean_texts import CleanKey, CleanTexts
from proxy.inspection.cpu_budget import CpuBudget
from proxy.inspection.decode_errors import DepthLimitExceeded
from proxy.inspection.decoders import DecodeLimitExceeded, UndecodableBody
from proxy.inspection.engine import Hit, Inspection, Text, inspect_texts
from proxy.inspection.readings import every_reading
from proxy.metrics.labels import Component
from proxy.policy.decision import Decision
from proxy.policy.findings_decision import FindingsDecision, decide_findings
from proxy.policy.model import FindingAction, InspectionOverrides, Mode, Oversize
from proxy.policy.reasons import Action, Reason
from proxy.runtime.inspection_pool import OFFLOAD_MIN_CHARS, OffloadTimeout, job_deadline

logger = logging.getLogger("glassbreak")

META_FINDINGS = "glassbreak.findings"  # list[dict] for the audit line
# The request-target and header block, in bytes, past which a request is refused unread
# (inspection_limit): the body has max_body_bytes, and a 5 MB request line cost 10 s of
# inspection and was then forwarded (red team exfil5). Servers refuse far less (nginx: 4 x 8 KiB
# per line; most frameworks 8-64 KiB in all).
MAX_HEAD_BYTES = 256 * 1024


class Inspector:
    metrics_component = Component.INSPECTION

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def _settings(self, flow: http.HTTPFlow) -> tuple[Decision | None, InspectionOverrides, Mode]:
        decision = flow.metadata.get(META_DECISION)
        decision = decision if isinstance(decision, Decision) else None
        rule = None
        if decision is not None and decision.rule_id is not None:
            rule = self.gate.policy.destination(decision.rule_id)
        overrides = rule.inspection if rule is not None else InspectionOverrides()
        mode = rule.mode if rule is not None else self.gate.policy.mode
        if decision is not None and decision.would_block:
            mode = Mode.MONITOR  # the request only goes through because of monitor mode
        return decision, overrides, mode

    def _limits(self, overrides: InspectionOverrides) -> tuple[int, Oversize]:
        inspection = self.gate.policy.inspection
        return (overrides.max_body_bytes or inspection.max_body_bytes,
                overrides.oversize or inspection.oversize)

    @fail_closed(refuse_internal_error)
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        """Refuse a declared oversize body before reading it; stream one a rule lets through."""
        if flow.response or flow.error or not self.gate.policy.inspection.enabled:
            return
        decision, overrides, _ = self._settings(flow)
        if head_bytes(flow.request) > MAX_HEAD_BYTES:
            self._block(flow, decision, Reason.INSPECTION_LIMIT, ())
            return
        limit, oversize = self._limits(overrides)
        declared = flow.request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            if oversize is Oversize.FORWARD:
                flow.request.stream = True  # the rule's explicit choice: forwarded unscanned
                return
            self._block(flow, decision, Reason.BODY_TOO_LARGE, ())

    @fail_closed(refuse_internal_error)
    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or flow.request.stream:
            return
        if not self.gate.policy.inspection.enabled:
            return
        decision, overrides, mode = self._settings(flow)
        limit, _ = self._limits(overrides)
        if len(flow.request.raw_content or b"") > limit:
            self._block(flow, decision, Reason.BODY_TOO_LARGE, ())
            return
        started = time.perf_counter()
        try:
            texts = request_texts(flow.request, limit=limit)
        except DepthLimitExceeded:  # compressed more times than are undone: not looked into
            self._block(flow, decision, Reason.INSPECTION_LIMIT, ())
            return
        except DecodeLimitExceeded:
            self._block(flow, decision, Reason.BODY_TOO_LARGE, ())
            return
        except UndecodableBody:
            self._block(flow, decision, Reason.BODY_UNDECODABLE, ())
            return
        try:
            inspection = await self._inspect(texts, clean=self.gate.clean_texts)
        except OffloadTimeout:
            self._block(flow, decision, Reason.INSPECTION_LIMIT, ())
            return
        self.gate.metrics.inspection_seconds(time.perf_counter() - started)
        verdict = decide_findings(inspection.findings, self.gate.policy.inspection, overrides,
                                  mode)
        await self._apply(flow, decision, inspection, verdict, limit)

    async def _inspect(self, texts: Sequence[Text], *, clean: CleanTexts | None) -> Inspection:
        """Inspect on the event loop, or, when the texts not known clean are many, in a worker
        process (proxy/runtime/inspection_pool.py): the same engine, budget and cache."""
        policy = self.gate.policy.inspection
        pool = self.gate.inspection_pool
        if pool is not None:
            left = _left_to_inspect(texts, clean)
            characters = sum(len(text.text) for text, _ in left)
            if characters >= OFFLOAD_MIN_CHARS:
                result = await pool.inspect([text for text, _ in left],
                                            job_deadline(policy.cpu_seconds(characters)))
                if clean is not None:
                    for position in result.clean:
                        digest = left[position][1]
                        if digest is not None:
                            clean.add(digest)
                return result.inspection
        return inspect_texts(texts, self.gate.scanner, self.gate.finding_key,
                             max_depth=policy.max_depth, clean=clean,
                             cpu=CpuBudget.for_texts(texts, policy))

    async def _apply(self, flow: http.HTTPFlow, decision: Decision | None,
                     inspection: Inspection, verdict: FindingsDecision, limit: int) -> None:
        flow.metadata[META_FINDINGS] = findings_for_audit(verdict)
        if inspection.limit_reached:
            self._block(flow, decision, Reason.INSPECTION_LIMIT, ())
        elif verdict.action is FindingAction.BLOCK:
            self._block(flow, decision, verdict.reason or Reason.SECRET_DETECTED,
                        blocking_hits(inspection, verdict, FindingAction.BLOCK))
        elif verdict.action is FindingAction.REDACT:
            hits = blocking_hits(inspection, verdict, FindingAction.REDACT)
            try:
                redact_request(flow.request, hits, decoded_body(flow.request, limit=limit))
                await self._check_redacted(flow.request, hits, limit)
            except RedactionImpossible:
                self._block(flow, decision, verdict.reason or Reason.SECRET_DETECTED, hits)

    async def _check_redacted(self, request: http.Request, hits: Sequence[Hit],
                              limit: int) -> None:
        """Inspect the redacted request again: a value also written in another form at the same
        place (plain and base64 in one field) was reported once, so only its plain copy was
        replaced. If any redacted value is still found, the request is blocked."""
        try:
            texts = request_texts(request, limit=limit)
            inspection = await self._inspect(texts, clean=None)
        except (DecodeLimitExceeded, UndecodableBody, OffloadTimeout):
            raise RedactionImpossible("the redacted request cannot be inspected") from None
        redacted = {(hit.finding.detector, hit.finding.keyed_hash) for hit in hits}
        if inspection.limit_reached or any(
                (finding.detector, finding.keyed_hash) in redacted
                for finding in inspection.findings):
            raise RedactionImpossible("a redacted value is still in the request")

    def _block(self, flow: http.HTTPFlow, decision: Decision | None, reason: Reason,
               hits: Sequence[Hit]) -> None:
        blocked = Decision(
            action=Action.BLOCK, reason=reason,
            rule_id=decision.rule_id if decision else None,
            host=decision.host if decision else None,
            final=decision.final if decision else False,
        )
        refuse(flow, blocked, "inspection", findings=[hit.finding for hit in hits])

    @fail_closed(lambda addon, flow: addon._refuse_message(flow))
    async def websocket_message(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is None or not self.gate.policy.inspection.enabled:
            return
        message = flow.websocket.messages[-1]
        if not message.from_client:
            return
        _, overrides, mode = self._settings(flow)
        index = len(flow.websocket.messages) - 1
        text = message.text if message.is_text else message.content.decode("latin-1")
        texts = [Text(f"websocket:{index}", text)]
        if not message.is_text:  # a binary message may be compressed data: read it too
            limit, _ = self._limits(overrides)
            try:
                # each as a body would be read: UTF-8, or UTF-16/32 by its BOM or its zeros
                texts += [Text(f"websocket:{index}", reading)
                          for reading in every_reading(message.content, limit)]
            except DecodeLimitExceeded:
                self._refuse_message(flow)  # more than the body limit once decompressed
                return
        try:
            inspection = await self._inspect(texts, clean=self.gate.clean_texts)
        except OffloadTimeout:
            self._refuse_message(flow)
            return
        verdict = decide_findings(inspection.findings, self.gate.policy.inspection, overrides,
                                  mode)
        findings = flow.metadata.setdefault(META_FINDINGS, [])
        findings.extend(findings_for_audit(verdict))
        if inspection.limit_reached or verdict.action is FindingAction.BLOCK:
            self._refuse_message(flow)  # the agent sees the socket close; the audit line says why
        elif verdict.action is FindingAction.REDACT:
            hits = blocking_hits(inspection, verdict, FindingAction.REDACT)
            if any(hit.finding.layers for hit in hits):
                self._refuse_message(flow)
                return
            if any(hit.value not in text for hit in hits):  # found in another reading
                self._refuse_message(flow)
                return
            for hit in hits:
                text = text.replace(hit.value, placeholder(hit.finding.detector))
            message.content = text.encode("utf-8" if message.is_text else "latin-1")

    def _refuse_message(self, flow: http.HTTPFlow) -> None:
        """Drop the client's last message and close the socket: flow.kill() alone leaves a
        WebSocket open (mitmproxy's WebSocket layer does not look at it)."""
        assert flow.websocket is not None
        flow.websocket.messages[-1].drop()
        if flow.killable:
            flow.kill()
        if self.gate.close_client is not None:
            self.gate.close_client(flow.client_conn)


def blocking_hits(inspection: Inspection, verdict: FindingsDecision, action: FindingAction
                  ) -> list[Hit]:
    deciding = {id(j.finding) for j in verdict.judged if j.action is action}
    return [hit for hit in inspection.hits if id(hit.finding) in deciding]


def findings_for_audit(verdict: FindingsDecision) -> list[dict[str, object]]:
    return [
        {
            "detector": judged.finding.detector,
            "severity": judged.finding.severity.label,
            "location": judged.finding.location,
            "layers": list(judged.finding.layers),
            "hash": judged.finding.keyed_hash,
            "preview": judged.finding.preview,
            "action": judged.action.value,
            "would_block": verdict.would_block,
        }
        for judged in verdict.reportable
    ]


def head_bytes(request: http.Request) -> int:
    """The request-target's and the header fields' bytes."""
    data = request.data
    return len(data.path) + sum(len(name) + len(value) for name, value in data.headers.fields)


def _left_to_inspect(texts: Sequence[Text], clean: CleanTexts | None
                     ) -> list[tuple[Text, CleanKey | None]]:
    """The texts the clean-text cache does not know, each with its key in the cache (None
    without a cache): only those are worth a worker's time."""
    if clean is None or clean.max_entries <= 0:
        return [(text, None) for text in texts]
    left: list[tuple[Text, CleanKey | None]] = []
    for text in texts:
        digest = clean.digest(text.text, peel=text.peel)
        if digest not in clean:
            left.append((text, digest))
    return left
