"""A whole rule file in monitor mode: misses pass and are logged; network safety still holds."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.clients import curl, curl_codes, open_tunnel
from tests.e2e.processes import Proxy, Upstream, start_proxy, stop

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def monitor_proxy(upstream: Upstream, upstream_ca_file: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    state = tmp_path_factory.mktemp("monitor")
    rules = state / "rules.yaml"
    rules.write_text(
        "version: 1\nmode: monitor\nnetwork:\n  allow_private: [127.0.0.2/32]\n"
        "  hosts:\n    other.test: [127.0.0.2]\n    private.test: [127.0.0.3]\n",
        encoding="utf-8",
    )
    proxy = start_proxy(rules, state, upstream_ca=upstream_ca_file)
    yield proxy
    stop(proxy.process)


def test_monitor_mode_lets_a_miss_through_and_logs_would_block(monitor_proxy: Proxy,
                                                               upstream: Upstream) -> None:
    tag = uuid.uuid4().hex
    result = curl(monitor_proxy.url, f"https://other.test:{upstream.ports['https']}/?t={tag}",
                  cafile=monitor_proxy.ca)
    assert curl_codes(result)[0] == 200, result.stderr
    assert len(upstream.seen_with_marker(tag)) == 1
    lines = [line for line in monitor_proxy.audit() if line.get("host") == "other.test"]
    assert lines and all(line["decision"] == "would_block" for line in lines)
    assert {line["reason"] for line in lines} == {"host_not_allowed"}


def test_monitor_mode_still_blocks_private_addresses(monitor_proxy: Proxy,
                                                     upstream: Upstream) -> None:
    sock, reply = open_tunnel(monitor_proxy.port, f"private.test:{upstream.ports['https']}")
    sock.close()
    assert (reply.status, reply.reason) == (403, "private_address")
