"""A protocol layer that closes the client connection: how a tunnel that is not HTTP is refused.

Used instead of letting mitmproxy relay raw bytes, because a killed TCP flow is still relayed.
"""

from __future__ import annotations

from mitmproxy.proxy import commands, events, layer


class RefuseLayer(layer.Layer):
    def _handle_event(self, event: events.Event) -> layer.CommandGenerator[None]:
        if isinstance(event, events.Start):
            yield commands.CloseConnection(self.context.client)
        # Whatever else arrives (buffered client data, the close) is dropped.
        yield from ()
