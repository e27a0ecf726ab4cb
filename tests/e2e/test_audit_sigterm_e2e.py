"""SIGTERM under load loses no audit line: every request that got an answer has its line, the
chain (across rotations) verifies, and the log ends with a clean stop."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.clients import TIMEOUT, open_tunnel, read_reply
from tests.e2e.processes import GLASSBREAK, Upstream, start_proxy, stop

pytestmark = pytest.mark.e2e

WORKERS = 6
LOAD_BEFORE_SIGTERM = 1.5  # seconds of load before the signal
LOAD_LIMIT = 15.0  # seconds: the workers stop by then whatever happens
EXIT_TIMEOUT = 20.0
ROTATE_BYTES = 64 * 1024  # small, so that the run rotates several times


def rules(upstream: Upstream) -> str:
    return f"""\
version: 1
network:
  allow_private: [127.0.0.2/32]
  hosts:
    allowed.test: [127.0.0.2]
destinations:
  - id: admin-denied
    host: allowed.test
    action: deny
    paths: [/admin]
  - id: allowed
    host: allowed.test
    ports: [{upstream.ports["http"]}]
"""


def plain_request(proxy_port: int, target: str) -> str | None:
    """One request on its own connection; the request id of a complete answer, else None."""
    try:
        with socket.create_connection(("127.0.0.1", proxy_port), timeout=TIMEOUT) as sock:
            host = target.split("/")[2]
            sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                         .encode())
            reply = read_reply(sock)
    except (OSError, ValueError):
        return None
    return reply.headers.get("x-glassbreak-request-id")


def refused_connect(proxy_port: int) -> str | None:
    try:
        sock, reply = open_tunnel(proxy_port, "other.test:443")
        sock.close()
    except (OSError, ValueError):
        return None
    return reply.headers.get("x-glassbreak-request-id")


def test_sigterm_under_load_loses_no_line(upstream: Upstream, upstream_ca_file: Path,
                                          tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(rules(upstream), encoding="utf-8")
    proxy = start_proxy(tmp_path / "rules.yaml", tmp_path / "state", upstream_ca=upstream_ca_file,
                        # No inspection worker: its start (seconds of CPU, niced) would compete
                        # with the first seconds of load on a busy 2-core machine, and the
                        # requests here are too small to be sent to one.
                        extra_args=["--audit-max-bytes", str(ROTATE_BYTES),
                                    "--inspection-workers", "0"])
    http = upstream.ports["http"]
    answered: list[str] = []
    failures = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + LOAD_LIMIT

    def work(worker: int) -> None:
        count = 0
        misses = 0
        while time.monotonic() < stop_at and misses < 20:
            kind = (worker + count) % 3
            if kind == 0:
                request_id = plain_request(proxy.port, f"http://allowed.test:{http}/ok/{count}")
            elif kind == 1:
                request_id = plain_request(proxy.port, f"http://allowed.test:{http}/admin")
            else:
                request_id = refused_connect(proxy.port)
            count += 1
            with lock:
                if request_id is not None:
                    answered.append(request_id)
                    misses = 0
                else:
                    failures[0] += 1
                    misses += 1  # the proxy is gone: stop soon

    threads = [threading.Thread(target=work, args=(index,)) for index in range(WORKERS)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(LOAD_BEFORE_SIGTERM)
        with lock:
            before_signal = len(answered)
        proxy.process.terminate()  # SIGTERM
        for thread in threads:
            thread.join(timeout=LOAD_LIMIT + TIMEOUT)
        assert proxy.process.wait(timeout=EXIT_TIMEOUT) == 0
    finally:
        stop(proxy.process)

    assert before_signal > 100, "the load did not get going"
    lines = proxy.audit()
    logged = {line.get("request_id") for line in lines}
    missing = [request_id for request_id in answered if request_id not in logged]
    assert not missing, f"{len(missing)} of {len(answered)} answered requests have no line"
    assert len(list(proxy.state_dir.glob("audit.log.*"))) >= 1, "the run did not rotate"
    assert lines[-1]["kind"] == "chain" and lines[-1]["event"] == "stop"
    verify = subprocess.run(
        [str(GLASSBREAK), "audit", "verify", "--state-dir", str(proxy.state_dir)],
        capture_output=True, text=True, timeout=60, check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "clean stop" in verify.stdout
    # One chain, in order, across the rotated files.
    seqs = [line["seq"] for line in lines]
    assert seqs == list(range(len(seqs)))
    assert lines[0]["event"] == "start"
    log = proxy.log.read_text(encoding="utf-8", errors="replace")
    assert "after the log was closed" not in log and "Traceback" not in log, log[-3000:]
