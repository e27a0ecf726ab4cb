"""Control frames a client sends carry no payload past the proxy: mitmproxy relays them
without a hook, so their payloads are emptied on the server's side of the relay."""

from __future__ import annotations

import pytest
import wsproto
from mitmproxy import connection
from mitmproxy.proxy.layers.websocket import WebsocketConnection
from wsproto.events import CloseConnection, Event, Ping, Pong, TextMessage

from addons.websocket_control import empty_control_frames_to_servers

SECRET = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def _sent(event: Event, to: connection.Connection) -> bytes:
    # a server-type wsproto connection writes unmasked frames, so the bytes can be searched
    ws = WebsocketConnection(wsproto.ConnectionType.SERVER, conn=to)
    command = ws.send2(event)
    return bytes(command.data)


@pytest.mark.parametrize("event", [
    Ping(payload=SECRET.encode()), Pong(payload=SECRET.encode()),
    CloseConnection(code=1000, reason=SECRET),
], ids=["ping", "pong", "close reason"])
def test_a_control_frames_payload_does_not_reach_the_server(event: Event) -> None:
    empty_control_frames_to_servers()
    server = connection.Server(address=("127.0.0.2", 443))
    client = connection.Client(peername=("127.0.0.1", 5000), sockname=("127.0.0.1", 8080))
    assert SECRET.encode() not in _sent(event, server)
    assert SECRET.encode() in _sent(event, client)  # towards the client: as it came


def test_data_messages_and_close_codes_are_kept() -> None:
    """Data messages are inspected by their hook, not emptied here; a close keeps its code."""
    empty_control_frames_to_servers()
    server = connection.Server(address=("127.0.0.2", 443))
    assert b"hello" in _sent(TextMessage(data="hello"), server)
    assert _sent(CloseConnection(code=4001, reason="x"), server)[2:4] == (4001).to_bytes(2, "big")
