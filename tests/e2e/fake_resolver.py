"""A fake upstream resolver on loopback that records every question that reaches it.

Run as its own process: prints its port once it listens (UDP and TCP), appends one JSON line per
question to --journal. `--silent` records questions and never answers (for timeout tests).
Names it answers (any other name: 93.184.215.14):
  rebind.*   -> 10.0.0.5 (a private address behind a public name)
  meta.*     -> 169.254.169.254
  private-ok.* -> 10.9.0.5
  alias.*    -> CNAME target.alias-cdn.example + A 93.184.215.15
  many.*     -> 60 A records (more than 512 bytes: TC over UDP)
  nx.*       -> NXDOMAIN
  txtina.*   -> A 93.184.215.14 plus a TXT record slipped into the A answer
  TXT questions -> "v=fake"
Names with a `ttl0` label anywhere are answered with TTL 0 (the others: 300), the way an
attacker's zone answers so that no resolver caches them.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

from dnslib import CNAME, QTYPE, RCODE, RR, TXT, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

TTL = 300


class RecordingResolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, journal: Path) -> None:
        self._journal = journal.open("a", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()

    def record(self, request: DNSRecord, transport: str) -> None:
        with self._lock:
            self._journal.write(json.dumps({
                "name": str(request.q.qname), "type": str(QTYPE.get(request.q.qtype)),
                "transport": transport, "time": time.time(),
            }) + "\n")

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        transport = "tcp" if handler.protocol == "tcp" else "udp"
        self.record(request, transport)
        reply = request.reply()
        name = str(request.q.qname)
        first = name.split(".", 1)[0].lower()
        qtype = request.q.qtype
        ttl = 0 if "ttl0" in name.lower().split(".") else TTL
        if first == "nx":
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        if qtype == QTYPE.TXT:
            reply.add_answer(RR(name, QTYPE.TXT, ttl=ttl, rdata=TXT("v=fake")))
            return reply
        if qtype != QTYPE.A:
            return reply
        if first == "txtina":
            reply.add_answer(RR(name, QTYPE.A, ttl=ttl, rdata=A("93.184.215.14")))
            reply.add_answer(RR(name, QTYPE.TXT, ttl=ttl, rdata=TXT("exfil-channel-down")))
            return reply
        if first == "alias":
            target = "target.alias-cdn.example."
            reply.add_answer(RR(name, QTYPE.CNAME, ttl=ttl, rdata=CNAME(target)))
            reply.add_answer(RR(target, QTYPE.A, ttl=ttl, rdata=A("93.184.215.15")))
            return reply
        if first == "many":
            for i in range(60):
                reply.add_answer(RR(name, QTYPE.A, ttl=ttl, rdata=A(f"93.184.216.{i + 1}")))
            return reply
        address = {"rebind": "10.0.0.5", "meta": "169.254.169.254",
                   "private-ok": "10.9.0.5"}.get(first, "93.184.215.14")
        reply.add_answer(RR(name, QTYPE.A, ttl=ttl, rdata=A(address)))
        return reply


def silent(host: str, journal: Path) -> None:
    """Read questions, record them, never answer."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    print(json.dumps({"port": sock.getsockname()[1]}), flush=True)
    resolver = RecordingResolver(journal)
    deadline = time.monotonic() + 600  # bounded: the test stops it long before
    sock.settimeout(1.0)
    while time.monotonic() < deadline:
        try:
            data, _ = sock.recvfrom(4096)
        except TimeoutError:
            continue
        try:
            resolver.record(DNSRecord.parse(data), "udp")
        except Exception:
            continue


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="default: a free one")
    parser.add_argument("--journal", type=Path, required=True)
    parser.add_argument("--silent", action="store_true")
    args = parser.parse_args()
    if args.silent:
        silent(args.host, args.journal)
        return
    resolver = RecordingResolver(args.journal)
    port = args.port
    if not port:
        with socket.socket() as probe:
            probe.bind((args.host, 0))
            port = probe.getsockname()[1]
    quiet = DNSLogger(logf=lambda _line: None)  # nobody reads our stdout after the port line
    udp = DNSServer(resolver, address=args.host, port=port, logger=quiet)
    tcp = DNSServer(resolver, address=args.host, port=port, tcp=True, logger=quiet)
    udp.start_thread()
    tcp.start_thread()
    print(json.dumps({"port": port}), flush=True)
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline and udp.isAlive():
        time.sleep(0.5)


if __name__ == "__main__":
    main()
