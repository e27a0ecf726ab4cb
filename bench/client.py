"""The bench's load client, run as its own process by ``bench.run`` (never in the proxy's process).

A small asyncio HTTP/1.1 client on raw streams, so that the client costs little CPU per request
(the machine has 2 cores and the client competes with the proxy and the upstream for them).

Modes (the configuration is one JSON object in ``--config``):

``load``
    ``concurrency`` kept-alive HTTPS connections to ``https://<authority>/echo``, either direct
    (TCP to ``target``) or through a proxy (TCP to ``proxy``, ``CONNECT <authority>``, then TLS
    inside the tunnel). Each connection sends JSON POSTs of ``body_size`` bytes (default 4 KB;
    a chat-completions-like request from ``bench.bodies``, clean of secrets) back to back. A
    response other than 2xx is an error (Glassbreak's 403 for a body it blocks, for one), counted
    per status in ``statuses``. The window ends at ``duration_s`` or ``max_requests``, whichever
    comes first, but not before ``min_requests`` have started (all bounded by ``time_limit_s``).
``connect``
    ``count`` fresh TCP connections to ``proxy``, each sending ``CONNECT <authority>`` and reading
    the answer (a 403 from Glassbreak for a denied name), then closing.

Protocol with the parent, one JSON object per line on stdout:
``{"event": "warm", ...}`` once warm-up is over and nothing is in flight; the client then waits for
``GO`` on stdin (the parent samples the proxy's CPU counters first), runs the measured window and
prints ``{"event": "done", ...}`` with the results, then waits for ``CLOSE`` (or end of input)
before it closes its connections, so that closing them falls outside the measured window.
Every wait is bounded by ``time_limit_s``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.bodies import conversation_bodies, make_body

BODY_SIZE = 4096
# Requests of one conversation prepared for a window: more than a window sends at ~1500/s.
CONVERSATION_REQUESTS = 24_000
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024  # of a response: the upstream answers a small JSON
MAX_ERRORS = 50
STALL_S = 10.0


class BenchError(Exception):
    """A request or connection failed in a way the bench counts as an error."""


class StatusError(BenchError):
    """The response's status was not 2xx."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"POST answered {status}: {body[:200]!r}")
        self.status = status


def make_request(authority: str, body: bytes) -> bytes:
    head = (
        f"POST /echo HTTP/1.1\r\n"
        f"Host: {authority}\r\n"
        f"User-Agent: glassbreak-bench/1\r\n"
        f"Content-Type: application/json\r\n"
        f"Accept: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"\r\n"
    )
    return head.encode("ascii") + body


def _split(hostport: str) -> tuple[str, int]:
    host, _, port = hostport.rpartition(":")
    return host.strip("[]"), int(port)


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes]]:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        raise BenchError("connection closed before a response") from error
    except asyncio.LimitOverrunError as error:
        raise BenchError("response head too long") from error
    lines = raw[:-4].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise BenchError(f"bad status line {lines[0][:80]!r}")
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[bytes, bytes]) -> bytes:
    length = headers.get(b"content-length")
    if length is not None:
        n = int(length)
        if n > MAX_BODY_BYTES:
            raise BenchError("response body too large")
        return await reader.readexactly(n)
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        chunks: list[bytes] = []
        total = 0
        for _ in range(10_000):
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise BenchError("response body too large")
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        raise BenchError("too many chunks")
    return b""


@dataclass
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    reusable: bool = True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 2)


async def open_connection(cfg: dict[str, Any], context: ssl.SSLContext) -> Connection:
    sni: str = cfg["sni"]
    if cfg.get("proxy"):
        host, port = _split(cfg["proxy"])
        reader, writer = await asyncio.open_connection(host, port)
        authority: str = cfg["authority"]
        writer.write(
            f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode("ascii")
        )
        status, headers = await _read_head(reader)
        if status != 200:
            body = await _read_body(reader, headers)
            writer.close()
            raise BenchError(f"CONNECT answered {status}: {body[:200]!r}")
        await writer.start_tls(context, server_hostname=sni)
    else:
        host, port = _split(cfg["target"])
        reader, writer = await asyncio.open_connection(
            host, port, ssl=context, server_hostname=sni
        )
    return Connection(reader, writer)


async def post(conn: Connection, request: bytes) -> int:
    conn.writer.write(request)
    status, headers = await _read_head(conn.reader)
    body = await _read_body(conn.reader, headers)
    if headers.get(b"connection", b"").lower() == b"close":
        conn.reusable = False
    if not 200 <= status < 300:
        conn.reusable = False
        raise StatusError(status, body)
    if b'"ok"' not in body:
        raise BenchError(f"unexpected response body {body[:200]!r}")
    return status


@dataclass
class LoadState:
    phase: str = "warm"  # warm -> hold -> measure -> stop
    go: asyncio.Event = field(default_factory=asyncio.Event)
    t0: float = 0.0
    deadline: float = 0.0
    max_requests: int | None = None
    min_requests: int = 0
    started: int = 0
    warm_requests: int = 0
    latencies_ns: list[int] = field(default_factory=list)
    last_end: float = 0.0
    errors: int = 0
    warm_errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)  # measured window only
    warm_statuses: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    connections_opened: int = 0
    idle: int = 0

    def note_status(self, status: int, measured: bool) -> None:
        counts = self.statuses if measured else self.warm_statuses
        counts[str(status)] = counts.get(str(status), 0) + 1

    def note_error(self, error: BaseException, measured: bool) -> None:
        if measured:
            self.errors += 1
        else:
            self.warm_errors += 1
        if isinstance(error, StatusError):
            self.note_status(error.status, measured)
        if len(self.error_samples) < 5:
            self.error_samples.append(f"{type(error).__name__}: {error}"[:300])

    def may_start(self) -> bool:
        if self.phase != "measure":
            return False
        if self.started < self.min_requests:
            return True
        if time.perf_counter() >= self.deadline:
            self.phase = "stop"
            return False
        if self.max_requests is not None and self.started >= self.max_requests:
            self.phase = "stop"
            return False
        return True


class Requests:
    """What a load window sends: one request again and again, or (traffic "conversation") the
    requests of one agent conversation in order, each body new (bench/bodies.py). Shared by the
    workers of a window: request n goes to whichever connection is free."""

    def __init__(self, authority: str, bodies: list[bytes]) -> None:
        self._requests = [make_request(authority, body) for body in bodies]
        self._sent = 0
        self.body_bytes = len(bodies[0])
        self.distinct = len(bodies)

    @classmethod
    def for_config(cls, cfg: dict[str, Any]) -> Requests:
        size = int(cfg.get("body_size", BODY_SIZE))
        if cfg.get("traffic", "repeat") == "conversation":
            count = int(cfg.get("conversation_requests", CONVERSATION_REQUESTS))
            seed = int(cfg.get("conversation_seed", 0))
            return cls(cfg["authority"], conversation_bodies(size, count, seed=seed))
        return cls(cfg["authority"], [make_body(size)])

    @property
    def reused(self) -> bool:
        """Whether a conversation ran out and started again (its bodies were seen before)."""
        return self.distinct > 1 and self._sent > self.distinct

    def next(self) -> bytes:
        request = self._requests[self._sent % len(self._requests)]
        self._sent += 1
        return request


async def _load_worker(
    state: LoadState, cfg: dict[str, Any], context: ssl.SSLContext, requests: Requests,
    conns: list[Connection], hold: asyncio.Condition,
) -> None:
    conn: Connection | None = None
    while True:
        if state.errors + state.warm_errors >= MAX_ERRORS:
            return
        if state.phase == "hold":
            async with hold:
                state.idle += 1
                hold.notify_all()
            await state.go.wait()
        if state.phase == "stop":
            return
        measured = state.phase == "measure"  # an error now counts against the window
        try:
            if conn is None or not conn.reusable:
                if conn is not None:
                    await conn.close()
                conn = await open_connection(cfg, context)
                conns.append(conn)
                state.connections_opened += 1
            if state.phase == "warm":
                status = await post(conn, requests.next())
                state.warm_requests += 1
                state.note_status(status, measured=False)
                continue
            if not state.may_start():
                continue
            state.started += 1
            measured = True
            request = requests.next()
            start = time.perf_counter_ns()
            status = await post(conn, request)
            end = time.perf_counter_ns()
            state.latencies_ns.append(end - start)
            state.last_end = time.perf_counter()
            state.note_status(status, measured=True)
        except (OSError, BenchError, ssl.SSLError, asyncio.IncompleteReadError, ValueError) as e:
            state.note_error(e, measured)
            if conn is not None:
                conn.reusable = False


async def _watch(
    state: LoadState, tasks: list[asyncio.Task[None]], progress: Callable[[], int],
    finished: Callable[[], bool], limit: float, stall_s: float,
) -> str | None:
    """Wait until ``finished()`` or every task ends; report a stall or the time limit.

    Returns None when things went as planned, else why they did not (the tasks are then cancelled).
    """
    start = time.perf_counter()
    last_count, last_change = progress(), start
    while True:
        now = time.perf_counter()
        if finished() or all(t.done() for t in tasks):
            return None
        count = progress()
        if count != last_count:
            last_count, last_change = count, now
        elif now - last_change >= stall_s:
            why = (f"no request completed for {stall_s:.0f} s (phase {state.phase}, "
                   f"{count} done before): requests on kept-alive connections hang")
            break
        if now - start >= limit:
            why = f"time limit of {limit:.0f} s reached (phase {state.phase})"
            break
        await asyncio.sleep(0.05)
    for t in tasks:
        t.cancel()
    return why


def _percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index] / 1e6


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def _read_command(timeout: float) -> str:
    loop = asyncio.get_running_loop()
    line: str = await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), timeout)
    return line.strip()


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


async def run_load(cfg: dict[str, Any]) -> None:
    context = ssl.create_default_context(cafile=cfg["ca_file"])
    context.set_alpn_protocols(["http/1.1"])
    requests = Requests.for_config(cfg)
    concurrency = int(cfg["concurrency"])
    limit = float(cfg["time_limit_s"])
    stall_s = float(cfg.get("stall_s", STALL_S))
    state = LoadState(max_requests=cfg.get("max_requests"),
                      min_requests=int(cfg.get("min_requests") or 0))
    warm_min = int(cfg.get("warmup_min_requests", 4 * concurrency))
    hold = asyncio.Condition()
    conns: list[Connection] = []
    tasks = [
        asyncio.create_task(_load_worker(state, cfg, context, requests, conns, hold))
        for _ in range(concurrency)
    ]
    try:
        # Warm-up: a fixed time, and at least a few requests per connection.
        warm_until = time.perf_counter() + float(cfg["warmup_s"])
        stalled = await _watch(
            state, tasks, lambda: state.warm_requests + state.warm_errors,
            lambda: time.perf_counter() >= warm_until
            and state.warm_requests >= warm_min,
            limit, stall_s,
        )
        if stalled:
            _emit({"event": "warm", "requests": state.warm_requests,
                   "errors": state.warm_errors, "error_samples": state.error_samples,
                   "statuses": state.warm_statuses, "stalled": stalled})
            return
        state.phase = "hold"
        try:
            async with hold:
                await asyncio.wait_for(
                    hold.wait_for(
                        lambda: state.idle >= sum(1 for t in tasks if not t.done())
                    ),
                    stall_s,
                )
        except TimeoutError:
            _emit({"event": "warm", "requests": state.warm_requests,
                   "errors": state.warm_errors, "error_samples": state.error_samples,
                   "stalled": f"a request in flight did not complete within {stall_s:.0f} s "
                   f"after {state.warm_requests} requests: requests on kept-alive "
                   "connections hang"})
            return
        _emit({"event": "warm", "requests": state.warm_requests, "errors": state.warm_errors,
               "error_samples": state.error_samples, "statuses": state.warm_statuses})
        if await _read_command(limit) != "GO":
            return
        cpu0 = _cpu_seconds()
        state.t0 = time.perf_counter()
        state.deadline = state.t0 + float(cfg["duration_s"])
        state.phase = "measure"
        state.go.set()
        stalled = await _watch(
            state, tasks, lambda: len(state.latencies_ns) + state.errors,
            lambda: False, float(cfg["duration_s"]) + limit, stall_s,
        )
        cpu1 = _cpu_seconds()
        end = state.last_end if state.last_end > state.t0 else time.perf_counter()
        elapsed = max(end - state.t0, 1e-9)
        lat = sorted(state.latencies_ns)
        _emit({
            "event": "done",
            "requests": len(lat),
            "elapsed_s": elapsed,
            "rps": len(lat) / elapsed,
            "p50_ms": _percentile(lat, 0.50),
            "p90_ms": _percentile(lat, 0.90),
            "p99_ms": _percentile(lat, 0.99),
            "max_ms": lat[-1] / 1e6 if lat else float("nan"),
            "errors": state.errors,
            "non_2xx": sum(n for code, n in state.statuses.items() if not code.startswith("2")),
            "statuses": state.statuses,
            "warm_errors": state.warm_errors,
            "warm_statuses": state.warm_statuses,
            "body_bytes": requests.body_bytes,
            "distinct_bodies": requests.distinct,
            "bodies_reused": requests.reused,
            "error_samples": state.error_samples,
            "connections_opened": state.connections_opened,
            "client_cpu_s": cpu1 - cpu0,
            "stalled": stalled,
        })
        with contextlib.suppress(TimeoutError):
            await _read_command(limit)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)


async def _one_connect(cfg: dict[str, Any]) -> int:
    host, port = _split(cfg["proxy"])
    reader, writer = await asyncio.open_connection(host, port)
    try:
        authority: str = cfg["authority"]
        writer.write(
            f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode("ascii")
        )
        status, headers = await _read_head(reader)
        await _read_body(reader, headers)
        return status
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 2)


async def run_connect(cfg: dict[str, Any]) -> None:
    limit = float(cfg["time_limit_s"])
    concurrency = int(cfg.get("concurrency", 1))
    statuses: dict[str, int] = {}
    errors: list[str] = []
    latencies: list[int] = []

    async def batch(count: int, deadline: float, record: bool) -> None:
        remaining = [count]

        async def worker() -> None:
            while remaining[0] > 0 and time.perf_counter() < deadline and len(errors) < 50:
                remaining[0] -= 1
                start = time.perf_counter_ns()
                try:
                    status = await asyncio.wait_for(_one_connect(cfg), STALL_S)
                except (OSError, BenchError, asyncio.IncompleteReadError, ValueError,
                        TimeoutError) as e:
                    errors.append(f"{type(e).__name__}: {e}"[:300])
                    continue
                if record:
                    latencies.append(time.perf_counter_ns() - start)
                    statuses[str(status)] = statuses.get(str(status), 0) + 1

        await asyncio.wait_for(
            asyncio.gather(*(worker() for _ in range(concurrency))), limit + 5
        )

    await batch(int(cfg["warmup_count"]), time.perf_counter() + limit, record=False)
    warm_errors = len(errors)
    _emit({"event": "warm", "requests": int(cfg["warmup_count"]), "errors": warm_errors,
           "error_samples": errors[:5]})
    if await _read_command(limit) != "GO":
        return
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    await batch(int(cfg["count"]), t0 + limit, record=True)
    elapsed = time.perf_counter() - t0
    cpu1 = _cpu_seconds()
    lat = sorted(latencies)
    _emit({
        "event": "done",
        "requests": len(lat),
        "elapsed_s": elapsed,
        "rps": len(lat) / max(elapsed, 1e-9),
        "p50_ms": _percentile(lat, 0.50),
        "p99_ms": _percentile(lat, 0.99),
        "statuses": statuses,
        "errors": len(errors) - warm_errors,
        "error_samples": errors[:5],
        "client_cpu_s": cpu1 - cpu0,
    })
    with contextlib.suppress(TimeoutError):
        await _read_command(limit)


def main() -> int:
    parser = argparse.ArgumentParser(description="glassbreak bench load client")
    parser.add_argument("--config", required=True, help="JSON configuration")
    args = parser.parse_args()
    cfg: dict[str, Any] = json.loads(args.config)
    mode = cfg.get("mode")
    if mode == "load":
        asyncio.run(run_load(cfg))
    elif mode == "connect":
        asyncio.run(run_connect(cfg))
    else:
        print(f"unknown mode {mode!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
