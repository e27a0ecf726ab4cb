"""Start the fake upstream resolver and Glassbreak's DNS server as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode

from tests.e2e.processes import GLASSBREAK, READY_TIMEOUT, REPO, free_port, stop, wait_for_port


@dataclass
class FakeResolver:
    port: int
    journal: Path
    process: subprocess.Popen[bytes]

    def names(self) -> list[str]:
        if not self.journal.exists():
            return []
        lines = self.journal.read_text(encoding="utf-8").splitlines()
        return [str(json.loads(line)["name"]) for line in lines if line]


def start_fake_resolver(journal: Path, *, silent: bool = False, host: str = "127.0.0.1",
                        port: int = 0, wrapper: list[str] | None = None) -> FakeResolver:
    """`port` 0: a free one. `wrapper`: a command prefix (`ip netns exec NAME`)."""
    command = [sys.executable, str(REPO / "tests" / "e2e" / "fake_resolver.py"),
               "--journal", str(journal), "--host", host, "--port", str(port)] + (
                   ["--silent"] if silent else [])
    process = subprocess.Popen((wrapper or []) + command, stdout=subprocess.PIPE, cwd=REPO)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        stop(process)
        raise RuntimeError("fake resolver did not start")
    return FakeResolver(port=int(json.loads(line)["port"]), journal=journal, process=process)


@dataclass
class DnsProcess:
    port: int
    state_dir: Path
    process: subprocess.Popen[bytes]
    log: Path
    host: str = "127.0.0.1"
    admin_port: int | None = None  # `glassbreak run` only: its /metrics

    def audit(self) -> list[dict[str, object]]:
        path = self.state_dir / "audit.log"
        if not path.exists():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
        return [entry for entry in map(json.loads, filter(None, lines))
                if entry.get("kind") == "dns"]

    def ask(self, name: str, rdtype: str = "A", *, tcp: bool = False, source: str = "127.0.0.1",
            timeout: float = 3.0) -> dns.message.Message:
        query = dns.message.make_query(name, rdtype)
        if tcp:
            return dns.query.tcp(query, self.host, port=self.port, timeout=timeout,
                                 source=source)
        return dns.query.udp(query, self.host, port=self.port, timeout=timeout, source=source)


def wait_for_dns(server: DnsProcess, timeout: float = READY_TIMEOUT) -> None:
    """Poll with a real question until the server answers (any rcode), bounded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"DNS server exited: {server.log.read_text(errors='replace')}")
        try:
            server.ask("readiness.invalid", timeout=0.3)
            return
        except (OSError, dns.exception.Timeout):
            time.sleep(0.05)
    raise TimeoutError("DNS server did not answer")


def start_dns(rules: Path, state_dir: Path, *, command: str = "dns",
              host: str = "127.0.0.1") -> DnsProcess:
    port = free_port(host)
    state_dir.mkdir(parents=True, exist_ok=True)
    log = state_dir / "dns.log"
    argv = [str(GLASSBREAK), command, "--rules", str(rules), "--dns", f"{host}:{port}",
            "--state-dir", str(state_dir)]
    admin_port = None
    if command == "run":
        admin_port = free_port()  # its own: tests run several, and the default is shared
        argv += ["--listen", f"127.0.0.1:{free_port()}", "--admin", f"127.0.0.1:{admin_port}"]
    with log.open("wb") as handle:
        process = subprocess.Popen(argv, stdout=handle, stderr=handle, env=dict(os.environ))
    server = DnsProcess(port=port, state_dir=state_dir, process=process, log=log,
                        host=host, admin_port=admin_port)
    try:
        wait_for_dns(server)
        if admin_port is not None:  # `run` may answer DNS before its admin listener is up
            wait_for_port("127.0.0.1", admin_port, process)
    except Exception:
        stop(process)
        raise
    return server


def rcode(message: dns.message.Message) -> str:
    return dns.rcode.to_text(message.rcode())
