"""What a CONNECT tunnel may carry: TLS we intercept, TLS we pass through by SNI, or nothing else.

Bytes that are not TLS (or not HTTP after TLS) are refused unless the destination allows raw TCP,
and so is TLS to the proxy itself: clients speak plain HTTP to it.
Every choice is made in `next_layer`, before mitmproxy opens an upstream connection for them.
"""

from __future__ import annotations

import time

from mitmproxy import tcp, tls
from mitmproxy.proxy import layer, layers
from mitmproxy.proxy.layers import tls as tls_layers

from addons.failclosed import fail_closed
from addons.refuse_layer import RefuseLayer
from addons.respond import INTERNAL_ERROR
from addons.state import Gate, Tunnel
from proxy.metrics.labels import Component
from proxy.netsafety.client_hello import why_not_passed_through
from proxy.policy.decide import decide
from proxy.policy.decision import Decision, Facts, Stage


def _refuse_layer_on_error(addon: TunnelGuard, nextlayer: layer.NextLayer) -> None:
    nextlayer.layer = RefuseLayer(nextlayer.context)
    tunnel = addon.gate.tunnels.get(nextlayer.context.client.id)
    if tunnel is not None:
        tunnel.poisoned = INTERNAL_ERROR


def _poison_on_error(addon: TunnelGuard, data: tls.ClientHelloData) -> None:
    tunnel = addon.gate.tunnels.get(data.context.client.id)
    if tunnel is not None:
        tunnel.poisoned = INTERNAL_ERROR


def _kill_on_error(_addon: TunnelGuard, flow: tcp.TCPFlow) -> None:
    if flow.killable:
        flow.kill()


class TunnelGuard:
    metrics_component = Component.TUNNEL

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    @fail_closed(_refuse_layer_on_error)
    def next_layer(self, nextlayer: layer.NextLayer) -> None:
        tunnel = self.gate.tunnels.get(nextlayer.context.client.id)
        if tunnel is None:
            if isinstance(nextlayer.layer, tls_layers.ClientTLSLayer):
                # TLS to the proxy itself (an https:// proxy URL): refused. The checks that
                # tell TLS inside a tunnel from plain bytes would read the outer TLS, and a
                # sandbox reaches its proxy over a local link that needs none.
                nextlayer.layer = RefuseLayer(nextlayer.context)
            return  # not inside a CONNECT tunnel
        if nextlayer.layer is None:
            return  # mitmproxy waits for more bytes
        chosen = nextlayer.layer
        if tunnel.poisoned is not None:
            nextlayer.layer = RefuseLayer(nextlayer.context)
        elif isinstance(chosen, tls_layers.ServerTLSLayer):
            self._tls_start(nextlayer, tunnel)
        elif isinstance(chosen, layers.HttpLayer):
            return  # every request is decided in requestheaders (plain HTTP in a tunnel too)
        else:
            self._not_http(nextlayer, tunnel)

    def _tls_start(self, nextlayer: layer.NextLayer, tunnel: Tunnel) -> None:
        if tunnel.decision.inspect or nextlayer.context.client.tls_established:
            return  # intercept: the SNI is checked in tls_clienthello and on every request
        try:
            hello = tls_layers.parse_client_hello(nextlayer.data_client())
        except ValueError:
            hello = None  # not a ClientHello we can read: intercept and judge what comes out
        else:
            if hello is None:
                nextlayer.layer = None  # incomplete ClientHello: ask again with more bytes
                return
        if hello is None or not hello.sni:
            return  # no name to check by: intercept instead of passing through blind
        if why_not_passed_through(hello) is not None:
            return  # a name hidden or given twice: the far end may route by another (ECH)
        decision = self._decide(tunnel, Stage.CONNECT, sni=hello.sni, tls=False)
        tunnel.sni = hello.sni
        if decision.allowed:
            tunnel.passthrough = True
            nextlayer.layer = layers.TCPLayer(nextlayer.context)
        # A mismatching SNI is intercepted, so the agent gets a 403 that says why.

    def _not_http(self, nextlayer: layer.NextLayer, tunnel: Tunnel) -> None:
        tls_inside = nextlayer.context.client.tls_established
        decision = self._decide(tunnel, Stage.TUNNEL, sni=tunnel.sni, tls=tls_inside)
        if decision.allowed:
            nextlayer.layer = layers.TCPLayer(nextlayer.context)
            return
        tunnel.poisoned = decision
        tunnel.record.decision = "block"
        tunnel.record.reason = decision.reason.value
        nextlayer.layer = RefuseLayer(nextlayer.context)

    def _decide(self, tunnel: Tunnel, stage: Stage, *, sni: str | None, tls: bool) -> Decision:
        self.gate.raise_if_fault_injected(tunnel.host)
        facts = Facts(
            stage=stage,
            host=tunnel.host,
            port=tunnel.port,
            in_tunnel=True,
            tunnel_tls=tls,
            sni=sni,
            addresses=tunnel.addresses,
            listen_addresses=self.gate.listen_addresses,
        )
        return decide(facts, self.gate.policy)

    @fail_closed(_poison_on_error)
    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        tunnel = self.gate.tunnels.get(data.context.client.id)
        if tunnel is not None and not data.context.client.tls_established:
            # Checked on every request of the tunnel (decide: SNI must name the CONNECT target).
            tunnel.sni = data.client_hello.sni
        if tunnel is None or not tunnel.decision.raw_tcp:
            # mitmproxy offers the upstream the client's ALPN protocol names as they came, and
            # a ClientHello is sent in the clear before any request is inspected: any name but
            # the HTTP ones would be a channel (`AKIA...` as a protocol). Raw TCP entries keep
            # theirs: what they carry is not inspected anyway, and their protocols need them.
            client = data.context.client
            client.alpn_offers = [offer for offer in client.alpn_offers
                                  if offer in tls_layers.HTTP_ALPNS]

    @fail_closed(_kill_on_error)
    def tcp_message(self, flow: tcp.TCPFlow) -> None:
        tunnel = self.gate.tunnels.get(flow.client_conn.id)
        message = flow.messages[-1]
        size = len(message.content)
        if tunnel is not None:
            if message.from_client:
                tunnel.record.bytes_up += size
            else:
                tunnel.record.bytes_down += size
        self.gate.metrics.transferred(size if message.from_client else 0,
                                      0 if message.from_client else size)
        # A relayed tunnel can live for hours: keep counts, not the bytes.
        flow.messages.clear()

    def tcp_start(self, flow: tcp.TCPFlow) -> None:
        tunnel = self.gate.tunnels.get(flow.client_conn.id)
        if tunnel is not None and tunnel.record.started == 0.0:
            tunnel.record.started = time.time()
