"""Fixtures that start real processes: a loopback upstream with a test CA, and Glassbreak."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.e2e.processes import Proxy, Upstream, start_proxy, start_upstream, stop

UPSTREAM_HOST = "127.0.0.2"
UPSTREAM_NAMES = [
    "allowed.test", "other.test", "api.allowed.test", "passthrough.test", "monitor.test",
    "fault.test", "raw.test", "a.wild.test", "private.test", "pinned.test", UPSTREAM_HOST,
]
FAULT_HOST = "fault.test"


@pytest.fixture(scope="session")
def test_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def upstream_ca_file(test_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "upstream-ca.pem"
    test_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="session")
def upstream(test_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    directory = tmp_path_factory.mktemp("upstream")
    leaf = test_ca.issue_cert(*UPSTREAM_NAMES)
    cert, key = directory / "cert.pem", directory / "key.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    for extra in leaf.cert_chain_pems[1:]:
        extra.write_to_path(str(cert), append=True)
    leaf.private_key_pem.write_to_path(str(key))
    server = start_upstream(UPSTREAM_HOST, cert, key, directory / "journal.jsonl")
    yield server
    stop(server.process)


def main_rules(upstream: Upstream, proxy_port: int) -> str:
    https, http = upstream.ports["https"], upstream.ports["http"]
    echo, not_http = upstream.ports["tcp_echo"], upstream.ports["tls_not_http"]
    counter, alpn = upstream.ports["counter"], upstream.ports["alpn"]
    upgrade_tls, upgrade_http = upstream.ports["upgrade_tls"], upstream.ports["upgrade_http"]
    return f"""\
version: 1
network:
  allow_private: [127.0.0.2/32]
  hosts:
    allowed.test: [127.0.0.2]
    other.test: [127.0.0.2]
    api.allowed.test: [127.0.0.2]
    passthrough.test: [127.0.0.2]
    monitor.test: [127.0.0.2]
    fault.test: [127.0.0.2]
    raw.test: [127.0.0.2]
    a.wild.test: [127.0.0.2]
    pinned.test: [127.0.0.2]
    private.test: [127.0.0.3]
    mixed.test: [127.0.0.2, 127.0.0.3]
    self.test: [127.0.0.1]
destinations:
  - id: admin-denied
    host: allowed.test
    action: deny
    paths: [/admin]
  - id: allowed
    host: allowed.test
    ports: [{https}, {http}, {not_http}, {counter}, {alpn}, {upgrade_tls}, {upgrade_http}]
  - id: api-read
    host: api.allowed.test
    ports: [{https}]
    methods: [GET]
  - id: api-messages
    host: api.allowed.test
    ports: [{https}]
    methods: [POST]
    paths: [/v1/messages]
  - id: passthrough
    host: passthrough.test
    ports: [{https}, {counter}]
    inspect: false
  - id: monitored
    host: monitor.test
    ports: [{https}, {upgrade_tls}]
    methods: [GET]
    mode: monitor
  - id: fault
    host: {FAULT_HOST}
    ports: [{https}, {http}]
  - id: raw
    host: raw.test
    ports: [{echo}, {counter}, {upgrade_tls}, {upgrade_http}]
    raw_tcp: true
  - id: wild
    hosts: ["*.wild.test"]
    ports: [{https}]
  - id: pinned
    host: pinned.test
    ports: [{https}]
  - id: internal
    hosts: [private.test, mixed.test]
    ports: [{https}, {http}]
  - id: self
    host: self.test
    ports: [{proxy_port}]
  - id: upstream-ip
    cidrs: [127.0.0.2/32]
    ports: [{https}]
"""


@pytest.fixture(scope="module")
def proxy(upstream: Upstream, upstream_ca_file: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    from tests.e2e.processes import free_port

    state = tmp_path_factory.mktemp("glassbreak")
    port = free_port()
    rules = state / "rules.yaml"
    rules.write_text(main_rules(upstream, port), encoding="utf-8")
    running = start_proxy(rules, state, upstream_ca=upstream_ca_file, port=port,
                          extra_env={"GLASSBREAK_INJECT_FAULT_HOSTS": FAULT_HOST})
    yield running
    stop(running.process)
    # mitmproxy logs an exception in an addon and carries on: none may happen unnoticed.
    log = running.log.read_text(encoding="utf-8", errors="replace")
    assert "Addon error" not in log, log[-4000:]
