"""Start and stop the real processes the end-to-end tests talk to (by PID, with bounds)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from proxy.audit.files import chain_files

REPO = Path(__file__).resolve().parents[2]
GLASSBREAK = Path(sys.executable).parent / "glassbreak"
READY_TIMEOUT = 20.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def wait_for_port(host: str, port: int, process: subprocess.Popen[bytes] | None,
                  timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


@dataclass
class Upstream:
    host: str
    ports: dict[str, int]
    journal: Path
    process: subprocess.Popen[bytes]

    def seen(self) -> list[dict[str, object]]:
        if not self.journal.exists():
            return []
        lines = self.journal.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line]

    def accepted(self) -> int:
        """Connections the counting server has accepted so far."""
        accepts = self.journal.with_suffix(".accepts")
        return len(accepts.read_text().splitlines()) if accepts.exists() else 0

    def seen_with_marker(self, marker: str) -> list[dict[str, object]]:
        return [entry for entry in self.seen() if marker in str(entry.get("path"))]


def start_upstream(host: str, cert: Path, key: Path, journal: Path) -> Upstream:
    process = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "e2e" / "upstream_server.py"), "--host", host,
         "--cert", str(cert), "--key", str(key), "--journal", str(journal)],
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # the server prints its ports once it listens
    if not line:
        stop(process)
        raise RuntimeError("upstream server did not start")
    return Upstream(host=host, ports=json.loads(line), journal=journal, process=process)


@dataclass
class Proxy:
    port: int
    state_dir: Path
    process: subprocess.Popen[bytes]
    log: Path
    host: str = "127.0.0.1"
    env: dict[str, str] = field(default_factory=dict)
    admin_port: int | None = None

    @property
    def admin_url(self) -> str:
        assert self.admin_port is not None, "started with --admin off"
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ca(self) -> Path:
        return self.state_dir / "ca" / "mitmproxy-ca-cert.pem"

    @property
    def audit_log(self) -> Path:
        return self.state_dir / "audit.log"

    def audit(self) -> list[dict[str, object]]:
        """Every line of the log, rotated files first (the chain's own lines included)."""
        lines: list[str] = []
        for path in chain_files(self.audit_log):
            lines += path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line]

    def session(self) -> requests.Session:
        """A Python client that goes through this proxy only (no proxy settings from the
        environment) and trusts its CA."""
        client = requests.Session()
        client.trust_env = False
        client.proxies = {"http": self.url, "https": self.url}
        client.verify = str(self.ca)
        return client

    def logs(self) -> str:
        """The audit log and the process's own output, to check that no secret reached them."""
        return self.audit_log.read_text() + self.log.read_text(errors="replace")

    def audit_for(self, request_id: str) -> list[dict[str, object]]:
        return [line for line in self.audit() if line.get("request_id") == request_id]


def start_proxy_on_rules(rules: str, state_dir: Path, *, upstream_ca: Path | None) -> Proxy:
    """A proxy on a free port, on `rules` (a rule file's text, written into `state_dir`)."""
    path = state_dir / "rules.yaml"
    path.write_text(rules, encoding="utf-8")
    return start_proxy(path, state_dir, upstream_ca=upstream_ca, port=free_port())


def start_proxy(rules: Path, state_dir: Path, *, upstream_ca: Path | None,
                extra_env: dict[str, str] | None = None, port: int | None = None,
                wrapper: list[str] | None = None, dns: str = "off",
                extra_args: list[str] | None = None, admin_port: int | None = None) -> Proxy:
    port = port or free_port()
    # Every proxy gets its own admin port: tests run several, and the default is shared.
    admin_port = admin_port or free_port()
    state_dir.mkdir(parents=True, exist_ok=True)
    log = state_dir / "proxy.log"
    command = [str(GLASSBREAK), "run", "--rules", str(rules), "--listen", f"127.0.0.1:{port}",
               "--state-dir", str(state_dir), "--dns", dns, "--admin", f"127.0.0.1:{admin_port}",
               *(extra_args or [])]
    if upstream_ca is not None:
        command += ["--upstream-ca", str(upstream_ca)]
    env = {**os.environ, **(extra_env or {})}
    with log.open("wb") as handle:
        process = subprocess.Popen((wrapper or []) + command, stdout=handle, stderr=handle,
                                   env=env)
    proxy = Proxy(port=port, state_dir=state_dir, process=process, log=log, admin_port=admin_port)
    if wrapper is None:
        try:
            wait_for_port("127.0.0.1", port, process)
            # The proxy's socket is bound before the admin listener starts: wait for both.
            wait_for_port("127.0.0.1", admin_port, process)
        except Exception:
            stop(process)
            raise RuntimeError(f"proxy did not start: {log.read_text(errors='replace')}") from None
    return proxy
