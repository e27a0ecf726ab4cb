"""The payloads of the control frames a client sends (ping, pong, close reason) are emptied on
their way to the server.

mitmproxy relays WebSocket pings, pongs and close frames without any hook: only data messages
reach `websocket_message`. A ping's payload (up to 125 bytes) or a close reason (up to 123) is
room enough for a key, and the server reads it. So on the server's side of the relay they go
out empty: a ping without payload, a close with its code and no reason. (A pong answering a
server's ping then no longer echoes its payload; servers use pings to keep a socket alive,
and a payload this proxy cannot inspect is not let through for it.)
"""

from __future__ import annotations

from typing import Any

from mitmproxy import connection
from mitmproxy.proxy import commands
from mitmproxy.proxy.layers import websocket
from wsproto.events import CloseConnection, Event, Ping, Pong

_relay = websocket.WebsocketConnection.send2


def _without_payload(event: Event) -> Event:
    if isinstance(event, Ping) and event.payload:
        return Ping(payload=b"")
    if isinstance(event, Pong) and event.payload:
        return Pong(payload=b"")
    if isinstance(event, CloseConnection) and event.reason:
        return CloseConnection(code=event.code, reason="")
    return event


def _send2(self: Any, event: Event) -> commands.SendData:
    if isinstance(self.conn, connection.Server):
        event = _without_payload(event)
    return _relay(self, event)


def empty_control_frames_to_servers() -> None:
    """Install the rule in mitmproxy's WebSocket relay (idempotent)."""
    websocket.WebsocketConnection.send2 = _send2  # type: ignore[method-assign]
