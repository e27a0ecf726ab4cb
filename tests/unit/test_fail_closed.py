"""A security hook that raises must block, never let the flow through (mitmproxy would skip it)."""

from __future__ import annotations

import asyncio
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import connection, options
from mitmproxy.proxy import context, layer, server_hooks
from mitmproxy.test import tflow

from addons import allowlist, tunnel
from addons.allowlist import Allowlist
from addons.pinning import NOT_CHECKED, Pinning
from addons.refuse_layer import RefuseLayer
from addons.state import Gate, Tunnel
from addons.tunnel import TunnelGuard
from proxy.audit.log import AuditLog
from proxy.audit.record import AuditRecord
from proxy.inspection.scanner import Scanner
from proxy.netsafety.resolver import Resolver
from proxy.policy.decision import Decision
from proxy.policy.loader import load_rules_text
from proxy.policy.reasons import Action, Reason

RULES = "version: 1\ndestinations:\n  - host: example.com\n"
SCANNER = Scanner()


def explode(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError("boom")


@pytest.fixture
def gate(tmp_path: Path) -> Gate:
    policy = load_rules_text(RULES, "t.yaml")
    return Gate(policy=policy, resolver=Resolver(policy.network.hosts),
                audit=AuditLog(tmp_path / "audit.log"), scanner=SCANNER, finding_key=b"k" * 32)


def test_allowed_request_passes_when_nothing_fails(gate: Gate) -> None:
    flow = tflow.tflow()
    flow.request.host, flow.request.port = "example.com", 80
    flow.request.headers["Host"] = "example.com"
    gate.resolver = _StaticResolver()
    asyncio.run(Allowlist(gate).requestheaders(flow))
    assert flow.response is None


@pytest.mark.parametrize("hook", ["requestheaders", "http_connect"])
def test_http_hook_exception_blocks_with_internal_error(gate: Gate,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       hook: str) -> None:
    monkeypatch.setattr(allowlist, "decide", explode)
    flow = tflow.tflow()
    flow.request.host = "example.com"
    asyncio.run(getattr(Allowlist(gate), hook)(flow))
    assert flow.response is not None
    assert flow.response.status_code == 403
    assert flow.response.headers["X-Glassbreak-Reason"] == "internal_error"


def test_a_hook_exception_is_counted_once_under_its_component(
        gate: Gate, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allowlist, "decide", explode)
    flow = tflow.tflow()
    flow.request.host = "example.com"
    asyncio.run(Allowlist(gate).requestheaders(flow))
    text = gate.metrics.exposition().decode()
    assert 'glassbreak_internal_errors_total{component="allowlist"} 1.0' in text
    assert 'glassbreak_internal_errors_total{component="other"} 0.0' in text


def test_resolver_exception_blocks(gate: Gate, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gate.resolver, "resolve", explode)
    flow = tflow.tflow()
    flow.request.host, flow.request.port = "example.com", 443
    asyncio.run(Allowlist(gate).http_connect(flow))
    assert flow.response is not None
    assert flow.response.headers["X-Glassbreak-Reason"] == "internal_error"
    assert flow.client_conn.id not in gate.tunnels


def test_server_connect_refuses_an_unchecked_destination(gate: Gate) -> None:
    client = connection.Client(peername=("127.0.0.1", 5000), sockname=("127.0.0.1", 8080))
    server = connection.Server(address=("example.com", 443))
    data = server_hooks.ServerConnectionHookData(client=client, server=server)
    Pinning(gate).server_connect(data)
    assert server.error == NOT_CHECKED


def test_server_connect_exception_refuses(gate: Gate, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gate, "checked_addresses", explode)
    client = connection.Client(peername=("127.0.0.1", 5000), sockname=("127.0.0.1", 8080))
    server = connection.Server(address=("example.com", 443))
    Pinning(gate).server_connect(server_hooks.ServerConnectionHookData(client=client,
                                                                       server=server))
    assert server.error == NOT_CHECKED


def test_next_layer_exception_refuses_the_connection(gate: Gate,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    client = connection.Client(peername=("127.0.0.1", 5000), sockname=("127.0.0.1", 8080))
    ctx = context.Context(client, _options())
    gate.tunnels[client.id] = _tunnel()
    nextlayer = layer.NextLayer(ctx)
    nextlayer.layer = layer.NextLayer(ctx)  # something mitmproxy chose: not HTTP
    monkeypatch.setattr(tunnel, "decide", explode)
    TunnelGuard(gate).next_layer(nextlayer)
    assert isinstance(nextlayer.layer, RefuseLayer)
    assert gate.tunnels[client.id].poisoned is not None


class _StaticResolver(Resolver):
    def __init__(self) -> None:
        super().__init__({})

    async def resolve(self, host: str, port: int) -> tuple[Any, ...]:
        return (ip_address("93.184.216.34"),)


def _options() -> Any:
    return options.Options()


def _tunnel() -> Tunnel:
    decision = Decision(action=Action.ALLOW, reason=Reason.ALLOWED, host="example.com")
    record = AuditRecord(request_id="r", kind="connect", stage="connect", client="c",
                         host="example.com", port=443, decision="allow", reason="allowed",
                         rule=None)
    return Tunnel(host="example.com", port=443, decision=decision, addresses=(), record=record)


def test_a_websocket_hook_exception_drops_the_message_and_closes(
        gate: Gate, monkeypatch: pytest.MonkeyPatch) -> None:
    """The message must not go on: killing the flow alone leaves a WebSocket relaying."""
    from mitmproxy import websocket
    from wsproto.frame_protocol import Opcode

    from addons import inspection
    from addons.inspection import Inspector

    closed: list[connection.Client] = []
    gate.close_client = closed.append
    monkeypatch.setattr(inspection, "decide_findings", explode)
    flow = tflow.twebsocketflow()
    flow.websocket.messages.append(websocket.WebSocketMessage(Opcode.TEXT, True, b"hello"))
    asyncio.run(Inspector(gate).websocket_message(flow))
    assert flow.websocket.messages[-1].dropped
    assert closed == [flow.client_conn]


def test_upgrade_hook_exception_kills_the_flow(gate: Gate,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A 101 judged by a hook that fails is not relayed as raw bytes."""
    monkeypatch.setattr(allowlist, "decide", explode)
    flow = tflow.tflow(resp=True)
    flow.response.status_code = 101
    Allowlist(gate).response(flow)
    assert flow.error is not None and not flow.killable
