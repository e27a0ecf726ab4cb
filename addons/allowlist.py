"""Decide every CONNECT and every HTTP request against the allowlist, before anything leaves.

CONNECT targets are decided before any TLS; a name is resolved only once it is allowed (resolving
a forbidden name would already leak it), and its addresses are checked and kept for dialling.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl

from mitmproxy import http
from mitmproxy.net.http import multipart

from addons.failclosed import fail_closed
from addons.respond import (
    META_STAGE,
    kill_flow,
    record_decision,
    refuse,
    refuse_internal_error,
    request_id_of,
)
from addons.state import Gate, Tunnel
from proxy.audit.record import LOGGED_HEADERS, MAX_HEADER_VALUE, AuditRecord
from proxy.inspection.host_secrets import secret_in_host
from proxy.metrics.labels import Component
from proxy.policy.decide import decide
from proxy.policy.decision import Decision, Facts, Stage
from proxy.policy.dns_over_https import is_dns_over_https, is_dns_query_message
from proxy.policy.model import IPAddress
from proxy.policy.overrides import (
    may_name_method_parameter,
    override_methods,
    override_paths,
)
from proxy.policy.reasons import Action, Reason
from proxy.policy.request_framing import malformed_request


class Allowlist:
    metrics_component = Component.ALLOWLIST

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    @fail_closed(refuse_internal_error)
    async def http_connect(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error:
            return
        flow.metadata[META_STAGE] = "connect"
        facts = Facts(
            stage=Stage.CONNECT,
            host=flow.request.host,
            port=flow.request.port,
            listen_addresses=self.gate.listen_addresses,
        )
        decision, addresses = await self._decide_and_resolve(facts)
        record = connection_record(flow, decision)
        if not decision.allowed or decision.host is None:
            refuse(flow, decision, "connect")
            record.status = flow.response.status_code if flow.response else None
            self.gate.write_audit(record)
            return
        record_decision(flow, decision, "connect")
        self.gate.tunnels[flow.client_conn.id] = Tunnel(
            host=decision.host,
            port=flow.request.port,
            decision=decision,
            addresses=addresses,
            record=record,
        )

    @fail_closed(refuse_internal_error)
    async def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error:
            return
        flow.metadata[META_STAGE] = "request"
        tunnel = self.gate.tunnels.get(flow.client_conn.id)
        if tunnel is not None:
            decision = self._decide_in_tunnel(flow, tunnel)
        else:
            decision = await self._decide_plain(flow)
        if decision.allowed:
            record_decision(flow, decision, "request")
        else:
            refuse(flow, decision, "request")

    @fail_closed(refuse_internal_error)
    def request(self, flow: http.HTTPFlow) -> None:
        """A body that is a DNS query message is DNS over HTTPS whatever its Content-Type says
        (a resolver may accept it as `application/octet-stream` or untyped)."""
        if flow.response or flow.error or flow.request.stream:
            return
        trailers = flow.request.trailers
        if trailers and malformed_request(b"", b"", b"", trailers.fields):
            self._decide_again(flow, "request", malformed=True)
            return
        form_methods = _form_override_methods(flow.request)
        if form_methods:
            stated = _override_methods(flow.request)
            if self._decide_again(flow, "request", override_methods=stated + form_methods):
                return
        if "content-encoding" in flow.request.headers or not is_dns_query_message(
                flow.request.raw_content):
            return
        self._decide_again(flow, "request", dns_over_https=True)

    @fail_closed(kill_flow)
    def response(self, flow: http.HTTPFlow) -> None:
        """A 101 answer that mitmproxy does not follow as a WebSocket (h2c, `Upgrade: foo`, a
        WebSocket handshake it cannot parse) would turn the connection into a raw TCP relay
        that no hook sees: allowed only where the entry allows raw TCP. The upstream, not the
        client, chooses to answer 101, so it is judged here, on the answer."""
        if flow.response is None or flow.response.status_code != 101 or (
                flow.websocket is not None):
            return
        if self._decide_again(flow, "upgrade", stage=Stage.UPGRADE):
            # The upstream has switched protocols: its connection is of no further use, and
            # the client's is closed after the answer, which tears both down.
            flow.response.headers["Connection"] = "close"

    def _decide_again(self, flow: http.HTTPFlow, label: str, **changes: Any) -> bool:
        """Decide the request again with what was learnt after its headers (`changes` to its
        facts); refuse it if that blocks (the audit line's stage: `label`), and say so.
        Monitor mode lets it on, and the audit line records the would-block."""
        tunnel = self.gate.tunnels.get(flow.client_conn.id)
        facts = (self._plain_facts(flow) if tunnel is None
                 else self._tunnel_facts(flow, tunnel))
        decision = decide(replace(facts, **changes), self.gate.policy)
        if decision.allowed:
            if decision.would_block:
                record_decision(flow, decision, label)
            return False
        refuse(flow, decision, label)
        return True

    def _decide_in_tunnel(self, flow: http.HTTPFlow, tunnel: Tunnel) -> Decision:
        if tunnel.poisoned is not None:
            return tunnel.poisoned
        self.gate.raise_if_fault_injected(tunnel.host)
        return decide(self._tunnel_facts(flow, tunnel), self.gate.policy)

    def _tunnel_facts(self, flow: http.HTTPFlow, tunnel: Tunnel) -> Facts:
        return Facts(
            stage=Stage.REQUEST,
            host=tunnel.host,
            port=tunnel.port,
            scheme=flow.request.scheme,
            method=flow.request.method,
            path=flow.request.path,  # as sent: decide reads it the ways a server might
            override_methods=_override_methods(flow.request),
            override_paths=override_paths(flow.request.headers.fields),
            dns_over_https=_is_dns_query(flow.request),
            malformed=_malformed(flow.request),
            in_tunnel=True,
            tunnel_tls=flow.client_conn.tls_established,
            sni=tunnel.sni,
            host_headers=stated_authorities(flow),
            addresses=tunnel.addresses,
            listen_addresses=self.gate.listen_addresses,
        )

    async def _decide_plain(self, flow: http.HTTPFlow) -> Decision:
        decision, addresses = await self._decide_and_resolve(self._plain_facts(flow))
        if decision.allowed and decision.host is not None:
            self.gate.pins[(flow.client_conn.id, decision.host, flow.request.port)] = addresses
        return decision

    def _plain_facts(self, flow: http.HTTPFlow) -> Facts:
        return Facts(
            stage=Stage.REQUEST,
            host=flow.request.host,
            port=flow.request.port,
            scheme=flow.request.scheme,
            method=flow.request.method,
            path=flow.request.path,  # as sent: decide reads it the ways a server might
            override_methods=_override_methods(flow.request),
            override_paths=override_paths(flow.request.headers.fields),
            dns_over_https=_is_dns_query(flow.request),
            malformed=_malformed(flow.request),
            host_headers=stated_authorities(flow),
            listen_addresses=self.gate.listen_addresses,
        )

    async def _decide_and_resolve(self, facts: Facts) -> tuple[Decision, tuple[IPAddress, ...]]:
        """Decide on the names; resolve only an allowed name; decide again on its addresses."""
        decision = decide(facts, self.gate.policy)
        if not decision.allowed or decision.host is None:
            return decision, ()
        self.gate.raise_if_fault_injected(decision.host)
        if self.gate.policy.inspection.enabled:
            # Before resolving: resolving `<key>.allowed-wildcard.example` would send the key.
            detector = secret_in_host(facts.host, self.gate.scanner)
            if detector is not None:
                # The name itself is the secret: it is shown (answer, audit line) masked.
                return replace(decision, action=Action.BLOCK, reason=Reason.SECRET_DETECTED,
                               would_block=False, host=f"[REDACTED:{detector}]"), ()
        addresses = await self.gate.resolver.resolve(decision.host, facts.port)
        return decide(replace(facts, addresses=addresses), self.gate.policy), addresses


def _malformed(request: http.Request) -> bool:
    data = request.data
    return malformed_request(data.method, data.path, data.authority, data.headers.fields)


def _override_methods(request: http.Request) -> tuple[str, ...]:
    """The methods the request's override headers and `_method` query parameters name."""
    _, mark, raw_query = request.path.partition("?")
    query = (request.query.items(multi=True)
             if mark and may_name_method_parameter(raw_query.encode("latin-1", "replace"))
             else ())
    return override_methods(request.headers.fields, query)


def _form_override_methods(request: http.Request) -> tuple[str, ...]:
    """The methods `_method` fields of a form body name (Rails, Laravel and Symfony read them
    there). Parsed only when the body may hold one; a body with a Content-Encoding is not
    decoded here (frameworks read the form as sent: see docs/rules.md)."""
    content_type = request.headers.get("content-type", "")
    kind = content_type.lower()
    body = request.raw_content
    if not body or "content-encoding" in request.headers or not (
            kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))
            and may_name_method_parameter(body)):
        return ()
    if kind.startswith("multipart/"):
        try:
            parts = multipart.decode_multipart(content_type, body)
        except ValueError:
            return ()
        fields = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in parts]
    else:
        fields = parse_qsl(body.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
    return override_methods((), fields)


def _is_dns_query(request: http.Request) -> bool:
    path = request.path
    _, mark, raw_query = path.partition("?")
    lowered = raw_query.lower()
    # Parsing a query costs more than the rest: only one that may name `dns` or `name` is.
    may_ask = mark and ("dns" in lowered or "name" in lowered or "%" in raw_query)
    query = request.query.items(multi=True) if may_ask else ()
    return is_dns_over_https(path, request.headers.items(multi=True), query)


def stated_authorities(flow: http.HTTPFlow) -> tuple[str, ...]:
    """Every place the request names its host: all Host headers, and the authority.

    An absolute-form URL inside a tunnel, or an HTTP/2 :authority, names a host the upstream may
    honour over the Host header; all of them must agree with the destination.
    """
    stated = list(flow.request.headers.get_all("host"))
    if flow.request.authority:
        stated.append(flow.request.authority)
    return tuple(stated)


def client_label(flow: http.HTTPFlow) -> str:
    peer = flow.client_conn.peername
    return f"{peer[0]}:{peer[1]}" if peer else "?"


def decision_label(decision: Decision) -> str:
    if decision.would_block:
        return "would_block"
    return "allow" if decision.action is Action.ALLOW else "block"


def logged_headers(flow: http.HTTPFlow) -> dict[str, str]:
    headers = flow.request.headers
    return {name: headers[name][:MAX_HEADER_VALUE] for name in LOGGED_HEADERS if name in headers}


def connection_record(flow: http.HTTPFlow, decision: Decision) -> AuditRecord:
    return AuditRecord(
        request_id=request_id_of(flow),
        kind="connect",
        stage="connect",
        client=client_label(flow),
        host=decision.host or flow.request.host,
        port=flow.request.port,
        method="CONNECT",
        decision=decision_label(decision),
        reason=decision.reason.value,
        rule=decision.rule_id,
        started=flow.request.timestamp_start or time.time(),
        headers=logged_headers(flow),
    )
