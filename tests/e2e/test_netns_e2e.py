"""Aim the real proxy at forbidden non-loopback addresses — inside a network namespace of its own.

The namespace has only a loopback interface and no route out, so even a bug in the proxy could not
put a packet on a real network. Clients run in the same namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.dns_processes import start_fake_resolver
from tests.e2e.processes import REPO, Proxy, start_proxy, stop

pytestmark = [pytest.mark.e2e, pytest.mark.netns]

PROXY_PORT = 18080
RULES = """\
version: 1
network:
  hosts:
    metadata.test: [169.254.169.254]
    metadata6.test: ["fd00:ec2::254"]
    mapped.test: ["::ffff:169.254.169.254"]
    nat64.test: ["64:ff9b::a9fe:a9fe"]
    ten.test: [10.0.0.1]
    cgnat.test: [100.64.0.1]
    linklocal.test: [169.254.10.10]
    sixtofour.test: ["2002:a00:1::"]
    mixed.test: [192.0.2.10, 10.0.0.1]
destinations:
  - id: named
    hosts: [metadata.test, metadata6.test, mapped.test, nat64.test, ten.test, cgnat.test,
            linklocal.test, sixtofour.test, mixed.test]
  - id: ten-by-cidr
    cidrs: [10.0.0.0/8]
"""


def _can_make_namespaces() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


@pytest.fixture(scope="module")
def namespace() -> Iterator[str]:
    if not _can_make_namespaces():
        pytest.skip("needs root and iproute2 to create a private network namespace")
    name = f"gb-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        routes = subprocess.run(["ip", "netns", "exec", name, "ip", "route", "show"],
                                capture_output=True, text=True, check=True).stdout
        assert routes.strip() == "", f"namespace unexpectedly has routes: {routes}"
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.fixture(scope="module")
def isolated_proxy(namespace: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    state = tmp_path_factory.mktemp("netns-glassbreak")
    rules = state / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    proxy = start_proxy(rules, state, upstream_ca=None, port=PROXY_PORT,
                        wrapper=["ip", "netns", "exec", namespace])
    yield proxy
    stop(proxy.process)


def probe(namespace: str, *specs: str) -> list[dict[str, object]]:
    result = subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-m", "tests.e2e.netns_probe",
         str(PROXY_PORT), *specs],
        capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
    )
    assert result.returncode == 0, result.stderr
    answers: list[dict[str, object]] = json.loads(result.stdout)
    return answers


CASES = {
    "metadata by name": ("CONNECT metadata.test:443", "metadata_address"),
    "metadata v6 by name": ("CONNECT metadata6.test:443", "metadata_address"),
    "metadata mapped in v6": ("CONNECT mapped.test:443", "metadata_address"),
    "metadata behind nat64": ("CONNECT nat64.test:443", "metadata_address"),
    "rfc1918 by name": ("CONNECT ten.test:443", "private_address"),
    "cgnat by name": ("CONNECT cgnat.test:443", "private_address"),
    "link-local by name": ("CONNECT linklocal.test:443", "private_address"),
    "rfc1918 in 6to4": ("CONNECT sixtofour.test:443", "private_address"),
    "one private answer of two": ("CONNECT mixed.test:443", "private_address"),
    "metadata literal": ("CONNECT 169.254.169.254:80", "ip_literal_not_allowed"),
    "metadata literal decimal": ("CONNECT 2852039166:80", "ip_literal_not_allowed"),
    "metadata literal hex": ("CONNECT 0xa9fea9fe:80", "ip_literal_not_allowed"),
    "metadata literal v6": ("CONNECT [fd00:ec2::254]:80", "ip_literal_not_allowed"),
    "metadata literal mapped": ("CONNECT [::ffff:a9fe:a9fe]:80", "ip_literal_not_allowed"),
    "rfc1918 literal allowed by cidr is still private": ("CONNECT 10.0.0.1:443",
                                                         "private_address"),
    "rfc1918 literal octal": ("CONNECT 012.0.0.1:443", "private_address"),
    "rfc1918 literal short": ("CONNECT 10.1:443", "private_address"),
    "public literal": ("CONNECT 93.184.216.34:443", "ip_literal_not_allowed"),
    "plain http metadata by name": ("GET http://metadata.test/latest/meta-data/",
                                    "metadata_address"),
    "plain http metadata literal": ("GET http://169.254.169.254/latest/meta-data/",
                                    "ip_literal_not_allowed"),
    "plain http rfc1918 literal": ("GET http://10.0.0.1/", "private_address"),
}


def test_forbidden_addresses_are_blocked_with_the_right_reason(
        namespace: str, isolated_proxy: Proxy) -> None:
    answers = probe(namespace, *(spec for spec, _ in CASES.values()))
    got = {name: answer.get("reason") for name, answer in zip(CASES, answers, strict=True)}
    want = {name: reason for name, (_, reason) in CASES.items()}
    assert got == want
    assert all(answer["status"] == 403 for answer in answers)
    assert isolated_proxy.process.poll() is None


def test_curl_to_the_metadata_service_is_refused(namespace: str, isolated_proxy: Proxy) -> None:
    probe(namespace)  # waits until the proxy listens
    result = subprocess.run(
        ["ip", "netns", "exec", namespace, "curl", "-sS", "-i", "--max-time", "10", "--proxy",
         f"http://127.0.0.1:{PROXY_PORT}", "--noproxy", "",
         "http://metadata.test/latest/meta-data/iam/security-credentials/"],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert result.stdout.startswith("HTTP/1.1 403"), result.stdout + result.stderr
    assert "x-glassbreak-reason: metadata_address" in result.stdout.lower()
    audit = Path(isolated_proxy.audit_log).read_text(encoding="utf-8")
    assert '"reason":"metadata_address"' in audit


# --- the system resolver's search list ---------------------------------------------------------

SEARCH_RULES = """\
version: 1
destinations:
  - id: searched
    hosts: [api.allowed.test, intranet]
"""
# What Kubernetes writes: a name with fewer than 5 dots is tried under each search domain first.
SEARCHING_RESOLV_CONF = "nameserver 127.0.0.1\nsearch corp.test\noptions ndots:5 timeout:1\n"


def test_a_dotted_name_is_resolved_as_written_before_any_search_domain(
        namespace: str, tmp_path: Path) -> None:
    """With ndots:5 the system resolver would ask `api.allowed.test.corp.test` first, and an
    internal zone's answer would stand for the allowed name (red team, ssrf2). Only names the
    rules allow are resolved; a single-label name is still searched, as its owner meant."""
    resolv_conf = tmp_path / "resolv.conf"
    resolv_conf.write_text(SEARCHING_RESOLV_CONF, encoding="utf-8")
    (tmp_path / "rules.yaml").write_text(SEARCH_RULES, encoding="utf-8")
    in_namespace = ["ip", "netns", "exec", namespace]
    resolver = start_fake_resolver(tmp_path / "questions.jsonl", port=53, wrapper=in_namespace)
    port = PROXY_PORT + 1
    # The proxy alone sees this resolv.conf: a mount namespace of its own inside the network one.
    with_resolv_conf = [*in_namespace, "unshare", "--mount", "sh", "-c",
                        'mount --bind "$0" /etc/resolv.conf && exec "$@"', str(resolv_conf)]
    proxy = start_proxy(tmp_path / "rules.yaml", tmp_path / "state", upstream_ca=None, port=port,
                        wrapper=with_resolv_conf)
    try:
        result = subprocess.run(
            [*in_namespace, sys.executable, "-m", "tests.e2e.netns_probe", str(port),
             "CONNECT api.allowed.test:443", "CONNECT intranet:443"],
            capture_output=True, text=True, timeout=60, cwd=REPO, check=False)
        assert result.returncode == 0, result.stderr
    finally:
        stop(proxy.process)
        stop(resolver.process)
    asked = resolver.names()
    assert asked, "the proxy asked nothing: the test did not reach the system resolver"
    assert "api.allowed.test." in asked
    assert not [name for name in asked if name.startswith("api.allowed.test.corp.test")], asked
    assert "intranet.corp.test." in asked  # the near miss: a single label is searched
