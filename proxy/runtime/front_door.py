"""The listening socket: answer a denied CONNECT at once, hand every other connection to mitmproxy.

mitmproxy spends more CPU setting up a connection (its layers, and every hook offered to every
addon) than on a whole kept-alive request, so a sandbox hammering forbidden hosts would cost more
than honest traffic. The front door peeks at the first bytes without consuming them; if they are a
complete CONNECT head (authority parsed by mitmproxy's parser) that `decide` refuses on names, it
answers the 403 itself. Anything else — allowed, monitored, incomplete, not a CONNECT — goes to
mitmproxy untouched, where the addons decide again: this is a shortcut, never a second policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable

from h11._receivebuffer import ReceiveBuffer
from mitmproxy.net.http import url

from addons.state import Gate, new_request_id
from proxy.audit.record import MAX_HEADER_VALUE, AuditRecord
from proxy.blocking import Target, block_body, block_headers
from proxy.policy.decide import decide
from proxy.policy.decision import Decision, Facts, Stage
from proxy.runtime.listen import ListenAddress

logger = logging.getLogger("glassbreak")

HandOver = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

MAX_PEEK = 16 * 1024  # a CONNECT head is far smaller; a longer head goes to mitmproxy
FIRST_BYTES_WAIT = 5.0  # seconds; a client that stays silent is mitmproxy's to time out
LISTEN_BACKLOG = 1024
ACCEPT_BATCH = 64  # connections accepted per wake-up, so a flood cannot starve the loop
ACCEPT_BACKOFF = 0.1  # seconds without accepting after an accept error (EMFILE)
DRAIN_GRACE = 1.0  # seconds connections in flight get to finish at shutdown
DRAIN_CANCEL_WAIT = 5.0  # seconds to wait for cancelled connections to unwind


class FrontDoor:
    def __init__(self, gate: Gate, listen: ListenAddress, hand_over: HandOver) -> None:
        self._gate = gate
        self._listen = listen
        self._hand_over = hand_over
        self._tasks: set[asyncio.Task[None]] = set()
        self._accepting = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._backoff: asyncio.TimerHandle | None = None
        self._socket: socket.socket | None = None

    def bind(self) -> None:
        """Bind and listen now, so that a port in use fails start-up with a clear error."""
        family = socket.AF_INET6 if self._listen.address.version == 6 else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self._listen.host, self._listen.port))
        listener.listen(LISTEN_BACKLOG)
        listener.setblocking(False)
        self._socket = listener

    def start_accepting(self) -> None:
        assert self._socket is not None, "bind() first"
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._socket.fileno(), self._accept_ready)
        self._accepting = True

    @property
    def accepting(self) -> bool:
        return self._accepting

    def close(self) -> None:
        """Stop accepting. The reader is removed before the socket is closed: no accept callback
        can run on a closed socket (asyncio's sock_accept would, when cancelled under load)."""
        if self._socket is None:
            return
        if self._accepting and self._loop is not None:
            self._loop.remove_reader(self._socket.fileno())
        self._accepting = False
        if self._backoff is not None:
            self._backoff.cancel()
        self._socket.close()
        self._socket = None

    async def drain(self, grace: float = DRAIN_GRACE) -> None:
        """Stop accepting; give connections in flight `grace` seconds, then cancel them.

        Every connection, also one handed to mitmproxy, runs in one of our tasks: once this
        returns, nothing can answer a client any more, so the audit log can be closed without an
        answer going out unlogged.
        """
        self.close()
        tasks = set(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=DRAIN_CANCEL_WAIT)

    def _accept_ready(self) -> None:
        """Accept what the backlog holds (a bounded batch), each connection in its own task."""
        listener, loop = self._socket, self._loop
        assert listener is not None and loop is not None
        for _ in range(ACCEPT_BATCH):
            try:
                client, peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # EMFILE and friends: back off instead of spinning
                logger.warning("glassbreak: accept failed: %s", type(error).__name__)
                loop.remove_reader(listener.fileno())
                self._backoff = loop.call_later(ACCEPT_BACKOFF, self._resume_accepting)
                return
            client.setblocking(False)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = loop.create_task(self._serve(client, peer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _resume_accepting(self) -> None:
        self._backoff = None
        if self._accepting and self._socket is not None and self._loop is not None:
            self._loop.add_reader(self._socket.fileno(), self._accept_ready)

    async def _serve(self, client: socket.socket, peer: tuple[str, int]) -> None:
        try:
            head = await _peek_head(client)
            if head is not None and self._refused(client, peer, head):
                return
            reader, writer = await asyncio.open_connection(sock=client)
        except Exception as error:  # a broken client must not take the door down
            logger.debug("glassbreak: front door dropped a client: %s", type(error).__name__)
            client.close()
            return
        await self._hand_over(reader, writer)

    def _refused(self, client: socket.socket, peer: tuple[str, int], head: list[bytes]) -> bool:
        """Answer and close when the head is a CONNECT that the names alone refuse."""
        target = connect_target(head)
        if target is None:
            return False  # not a well-formed CONNECT: mitmproxy parses and answers it
        host, port, user_agent = target
        decision = decide(
            Facts(stage=Stage.CONNECT, host=host, port=port,
                  listen_addresses=self._gate.listen_addresses),
            self._gate.policy,
        )
        if decision.allowed:
            return False
        request_id = new_request_id()
        # The line is written before the answer leaves: whoever got an answer has a line.
        self._gate.write_audit(AuditRecord(
            request_id=request_id, kind="connect", stage="connect",
            client=f"{peer[0]}:{peer[1]}", host=decision.host or host, port=port,
            method="CONNECT", decision="block", reason=decision.reason.value,
            rule=decision.rule_id, status=403, started=time.time(),
            headers={"user-agent": user_agent} if user_agent is not None else {},
        ))
        _answer(client, decision, host, port, request_id)
        return True


def connect_target(head: list[bytes]) -> tuple[str, int, str | None] | None:
    """(host, port, user agent) of a CONNECT head, read the way mitmproxy reads it; else None.

    The request line is split and the authority parsed with mitmproxy's own `parse_authority`,
    so the host judged here is the host mitmproxy would have judged.
    """
    if not head or not head[0].startswith(b"CONNECT "):
        return None
    parts = head[0].split()
    if len(parts) != 3 or parts[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
        return None
    try:
        host, port = url.parse_authority(parts[1], check=True)
    except ValueError:
        return None
    if not port:  # mitmproxy refuses a CONNECT without a port, or to port 0
        return None
    user_agent = None
    for line in head[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"user-agent":
            user_agent = value.strip()[:MAX_HEADER_VALUE].decode("latin-1")
    return host, port, user_agent


async def _peek_head(client: socket.socket) -> list[bytes] | None:
    """The request head's lines if the first bytes hold a complete one; nothing is consumed."""
    loop = asyncio.get_running_loop()
    readable: asyncio.Future[bool] = loop.create_future()

    def settle(ready: bool) -> None:
        # The selector keeps reporting readiness until the reader is removed: settle once.
        if not readable.done():
            readable.set_result(ready)

    # A timer, not asyncio.wait_for: wait_for costs a task per call on this hot path.
    loop.add_reader(client.fileno(), settle, True)
    timer = loop.call_later(FIRST_BYTES_WAIT, settle, False)
    try:
        ready = await readable
    finally:
        loop.remove_reader(client.fileno())
        timer.cancel()
    if not ready:
        return None
    try:
        data = client.recv(MAX_PEEK, socket.MSG_PEEK)
    except (BlockingIOError, InterruptedError):
        return None
    buffer = ReceiveBuffer()
    buffer += data
    lines = buffer.maybe_extract_lines()
    return None if lines is None else [bytes(line) for line in lines]


def _answer(client: socket.socket, decision: Decision, host: str, port: int,
            request_id: str) -> None:
    """Consume the head, send the 403 and close (best effort: the client may be gone).

    The head was read already (peeked), so consuming it does not wait; the answer is far smaller
    than a fresh socket's send buffer, so sending it does not wait either. Unread input at close
    would turn the close into a reset that can destroy the answer in flight: read it first.
    """
    body = block_body(decision, Target(host=decision.host or host, port=port), request_id)
    headers = {**block_headers(decision, request_id), "Content-Length": str(len(body)),
               "Connection": "close"}
    response = "HTTP/1.1 403 Forbidden\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    with contextlib.suppress(OSError):
        client.recv(MAX_PEEK)
        client.send(response.encode("latin-1") + body)
        client.shutdown(socket.SHUT_WR)
    client.close()
