"""The real /metrics of a running Glassbreak after real traffic: exact counts, bounded series,
no host, path or secret in the exposition; /healthz."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from proxy.metrics.labels import DETECTORS
from tests.corpus import fakes
from tests.e2e.clients import curl, curl_body, curl_codes, open_tunnel
from tests.e2e.processes import Proxy, Upstream, start_proxy_on_rules, stop

pytestmark = pytest.mark.e2e

RNG = random.Random(20261205)
AWS_KEY = fakes.aws_access_key_id(RNG)
POLL_SECONDS = 10.0

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def rules(upstream: Upstream) -> str:
    https, http = upstream.ports["https"], upstream.ports["http"]
    return f"""\
version: 1
network:
  allow_private: [127.0.0.2/32]
  hosts:
    allowed.test: [127.0.0.2]
    api.allowed.test: [127.0.0.2]
destinations:
  - id: admin-denied
    host: allowed.test
    action: deny
    paths: [/admin]
  - id: allowed
    host: allowed.test
    ports: [{https}, {http}]
  - id: read-only
    host: api.allowed.test
    ports: [{http}]
    methods: [GET]
"""


@pytest.fixture(scope="module")
def proxy(upstream: Upstream, upstream_ca_file: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    running = start_proxy_on_rules(rules(upstream), tmp_path_factory.mktemp("metrics"),
                                   upstream_ca=upstream_ca_file)
    yield running
    stop(running.process)


def scrape(proxy: Proxy) -> tuple[str, Series]:
    return scrape_url(f"{proxy.admin_url}/metrics")


def scrape_url(url: str) -> tuple[str, Series]:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    series = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    return response.text, series


def deltas(before: Series, after: Series, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: value - before.get((metric, labels), 0.0)
            for (metric, labels), value in after.items()
            if metric == name and value != before.get((metric, labels), 0.0)}


def wait_for(proxy: Proxy, done: Callable[[Series], bool]) -> Series:
    """Tunnel lines are written when the client has gone: poll a bounded while for them."""
    deadline = time.monotonic() + POLL_SECONDS
    while True:
        _, series = scrape(proxy)
        if done(series) or time.monotonic() > deadline:
            return series
        time.sleep(0.05)


def key(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def test_healthz_says_ok_while_accepting(proxy: Proxy) -> None:
    response = requests.get(f"{proxy.admin_url}/healthz", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "accepting": True}


def test_counts_after_real_traffic_are_exact(proxy: Proxy, upstream: Upstream) -> None:
    https, http = upstream.ports["https"], upstream.ports["http"]
    _, before = scrape(proxy)
    received = 0
    body = b"x" * 1000
    with proxy.session() as client:
        allowed = client.post(f"http://allowed.test:{http}/upload", data=body, timeout=10)
        assert allowed.status_code == 200
        received += len(allowed.content)
        denied = client.get(f"http://allowed.test:{http}/admin", timeout=10)
        assert denied.headers["X-Glassbreak-Reason"] == "denied_by_rule"
        method = client.post(f"http://api.allowed.test:{http}/x", data=b"a", timeout=10)
        assert method.headers["X-Glassbreak-Reason"] == "method_not_allowed"
        other = client.get(f"http://other.test:{http}/", timeout=10)
        assert other.headers["X-Glassbreak-Reason"] == "host_not_allowed"
    # curl for tunnels: it closes its connection on exit, and a tunnel's line is written then.
    tunnelled = curl(proxy.url, f"https://allowed.test:{https}/inside", cafile=proxy.ca)
    assert curl_codes(tunnelled) == (200, 200)
    received += len(curl_body(tunnelled).encode())
    secret = curl(proxy.url, f"https://allowed.test:{https}/leak", cafile=proxy.ca,
                  extra=["-H", "Content-Type: application/json", "--data", f'{{"k":"{AWS_KEY}"}}'])
    assert curl_codes(secret) == (403, 200)
    assert '"reason":"secret_detected"' in curl_body(secret)
    sock, reply = open_tunnel(proxy.port, "other.test:443")
    sock.close()
    assert reply.reason == "host_not_allowed"

    connect_allowed = key(kind="connect", decision="allow", reason="allowed")
    after = wait_for(proxy, lambda s: s.get(("glassbreak_requests_total", connect_allowed), 0)
                     - before.get(("glassbreak_requests_total", connect_allowed), 0) >= 2)
    assert deltas(before, after, "glassbreak_requests_total") == {
        key(kind="http", decision="allow", reason="allowed"): 2,
        key(kind="http", decision="block", reason="denied_by_rule"): 1,
        key(kind="http", decision="block", reason="method_not_allowed"): 1,
        key(kind="http", decision="block", reason="host_not_allowed"): 1,
        key(kind="http", decision="block", reason="secret_detected"): 1,
        connect_allowed: 2,
        key(kind="connect", decision="block", reason="host_not_allowed"): 1,
    }
    assert deltas(before, after, "glassbreak_findings_total") == {
        key(detector="aws_access_key", action="block"): 1}
    assert deltas(before, after, "glassbreak_bytes_total") == {
        key(direction="up"): len(body), key(direction="down"): received}
    # Inspected: the allowed POST, the tunnelled GET and the POST with the key (blocks before
    # inspection are not).
    assert deltas(before, after, "glassbreak_inspection_seconds_count") == {(): 3}
    assert deltas(before, after, "glassbreak_internal_errors_total") == {}


def test_varied_traffic_adds_no_series_and_leaks_nothing(proxy: Proxy,
                                                         upstream: Upstream) -> None:
    https, http = upstream.ports["https"], upstream.ports["http"]
    _, before = scrape(proxy)
    hosts = [f"h{uuid.uuid4().hex[:12]}.example" for _ in range(30)]
    paths = [f"/p-{uuid.uuid4().hex}" for _ in range(30)]
    secrets = [fakes.aws_access_key_id(RNG) for _ in range(10)]
    with proxy.session() as client:
        for host in hosts:
            client.get(f"http://{host}/", timeout=10)
        for path in paths:
            client.get(f"http://allowed.test:{http}{path}", timeout=10)
        for secret in secrets:
            client.post(f"https://allowed.test:{https}/s", data={"note": secret}, timeout=10)
    for host in hosts[:10]:
        sock, _ = open_tunnel(proxy.port, f"{host}:443")
        sock.close()
    text, after = scrape(proxy)
    new = set(after) - set(before)
    assert not new, sorted(new)
    for value in (*hosts, *paths, *secrets, "allowed.test", "127.0.0.2"):
        assert value not in text
    # every series there is was created at start-up: a findings series per detector and action
    # (4), and fewer than 200 others
    assert len(after) < 200 + 4 * len(DETECTORS)
