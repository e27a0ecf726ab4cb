"""Write the audit line of every HTTP exchange and every tunnel when it ends."""

from __future__ import annotations

import time

from mitmproxy import connection, http

from addons.allowlist import client_label, decision_label, logged_headers
from addons.inspection import META_FINDINGS
from addons.respond import INTERNAL_ERROR, META_DECISION, META_STAGE, request_id_of
from addons.state import Gate
from proxy.audit.record import AuditRecord, path_without_query_values
from proxy.blocking import HEADER_REQUEST_ID
from proxy.policy.decision import Decision


class Audit:
    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def response(self, flow: http.HTTPFlow) -> None:
        self._write(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._write(flow)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        # Blocks carry the id already; an allowed answer gets it too, so that an agent or an
        # operator can find its audit line. Set, not added: an upstream cannot choose it.
        if flow.response is not None:
            flow.response.headers[HEADER_REQUEST_ID] = request_id_of(flow)

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is None:
            return
        message = flow.websocket.messages[-1]
        if message.dropped:
            return
        size = len(message.content)
        self.gate.metrics.transferred(size if message.from_client else 0,
                                      0 if message.from_client else size)

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        # Messages are inspected after the handshake's line was written: their findings get one
        # more line when the socket closes.
        if flow.metadata.get(META_FINDINGS):
            self._write(flow, kind="websocket")

    def client_disconnected(self, client: connection.Client) -> None:
        tunnel = self.gate.forget_client(client.id)
        if tunnel is not None:
            self.gate.write_audit(tunnel.record)

    def _write(self, flow: http.HTTPFlow, kind: str = "http") -> None:
        decision = flow.metadata.get(META_DECISION)
        if not isinstance(decision, Decision):
            decision = INTERNAL_ERROR  # a flow no security hook saw: say so loudly
        stage = flow.metadata.get(META_STAGE, "request")
        up = len(flow.request.raw_content or b"")
        down = len(flow.response.raw_content or b"") if flow.response else 0
        tunnel = self.gate.tunnels.get(flow.client_conn.id)
        if tunnel is not None:
            tunnel.record.bytes_up += up
            tunnel.record.bytes_down += down
        # Bytes that crossed the boundary: a blocked request's body never left. A WebSocket's
        # findings line is the same exchange again.
        if kind == "http" and decision.allowed:
            self.gate.metrics.transferred(up, down)
        self.gate.write_audit(
            AuditRecord(
                request_id=request_id_of(flow),
                kind=kind,
                stage=str(stage),
                client=client_label(flow),
                host=decision.host or flow.request.pretty_host,
                port=flow.request.port,
                method=flow.request.method,
                scheme=flow.request.scheme,
                path=path_without_query_values(flow.request.path),
                decision=decision_label(decision),
                reason=decision.reason.value,
                rule=decision.rule_id,
                status=flow.response.status_code if flow.response else None,
                bytes_up=up,
                bytes_down=down,
                started=flow.request.timestamp_start or time.time(),
                headers=logged_headers(flow),
                findings=list(flow.metadata.get(META_FINDINGS, [])),
            )
        )
