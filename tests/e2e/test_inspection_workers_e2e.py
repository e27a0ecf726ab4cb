"""Large requests are inspected in a worker process: other clients are served meanwhile, the
verdicts are the same as on the event loop, and a worker's failure blocks (then heals).

Through the real proxy process, with its real worker; fake secrets from tests/corpus/fakes.py.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from addons.redaction import placeholder
from tests.corpus import fakes
from tests.e2e.processes import (
    Proxy,
    Upstream,
    start_proxy,
    start_proxy_on_rules,
    stop,
)

pytestmark = pytest.mark.e2e

RNG = random.Random(20261122)
AWS_KEY = fakes.aws_access_key_id(RNG)
GITHUB_TOKEN = fakes.github_token(RNG, "ghp_")
# Costly but clean: random base85 tokens make peeling try every reading (~3 s of CPU per MB
# on the machine these tests were written on).
TOKENS = 24_000  # ~600 KB: one to a few seconds of a worker's CPU
MAX_WAIT = 120.0


def _rules(upstream: Upstream) -> str:
    https = upstream.ports["https"]
    return f"""\
version: 1
network:
  allow_private: [127.0.0.2/32]
  hosts:
    allowed.test: [127.0.0.2]
    api.allowed.test: [127.0.0.2]
inspection:
  max_body_bytes: 4194304
  cpu_seconds_per_mib: 60
destinations:
  - id: allowed
    host: allowed.test
    ports: [{https}]
  - id: redact
    host: api.allowed.test
    ports: [{https}]
    inspection:
      actions:
        aws_access_key: redact
"""


@pytest.fixture(scope="module")
def proxy(upstream: Upstream, upstream_ca_file: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    running = start_proxy_on_rules(_rules(upstream), tmp_path_factory.mktemp("workers"),
                                   upstream_ca=upstream_ca_file)
    yield running
    stop(running.process)
    everything = running.logs()
    for value in (AWS_KEY, GITHUB_TOKEN):
        assert value not in everything, "a secret value reached a log"


def _tokens(count: int, seed: int) -> str:
    rnd = random.Random(seed)
    return " ".join(base64.b85encode(rnd.randbytes(20)).decode() for _ in range(count))


def _url(upstream: Upstream, host: str = "allowed.test") -> str:
    return f"https://{host}:{upstream.ports['https']}/echo"


def _post(proxy: Proxy, url: str, body: str) -> requests.Response:
    marker = uuid.uuid4().hex
    return proxy.session().post(url, data=body.encode(), timeout=MAX_WAIT,
                                headers={"Content-Type": "text/plain", "X-Marker": marker})


def _workers(proxy: Proxy) -> list[int]:
    """The PIDs of the proxy's inspection workers (its children running spawn_main)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == proxy.process.pid and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def _wait_for_workers(proxy: Proxy, count: int = 1) -> list[int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if len(pids := _workers(proxy)) >= count:
            return pids
        time.sleep(0.1)
    raise AssertionError("the proxy started no inspection worker")


def test_small_requests_are_answered_while_a_large_one_is_inspected(
        proxy: Proxy, upstream: Upstream) -> None:
    _wait_for_workers(proxy)
    large: dict[str, object] = {}

    def send_large() -> None:
        started = time.monotonic()
        large["status"] = _post(proxy, _url(upstream), _tokens(TOKENS, 1)).status_code
        large["done"] = time.monotonic()
        large["took"] = large["done"] - started  # type: ignore[operator]

    thread = threading.Thread(target=send_large)
    thread.start()
    time.sleep(0.3)  # the large body is sent and being inspected
    small_done = []
    session = proxy.session()
    for index in range(5):
        reply = session.get(_url(upstream) + f"?n={index}", timeout=MAX_WAIT)
        assert reply.status_code == 200
        small_done.append(time.monotonic())
    thread.join(MAX_WAIT)
    assert large.get("status") == 200
    # On the event loop, the small requests would wait for the large one's whole inspection.
    assert max(small_done) < large["done"], (  # type: ignore[operator]
        f"small requests waited for the large one ({large['took']:.1f} s)")


def test_a_secret_in_a_large_body_is_found_as_on_the_event_loop(
        proxy: Proxy, upstream: Upstream) -> None:
    small = _post(proxy, _url(upstream), f"token {GITHUB_TOKEN} end")
    large = _post(proxy, _url(upstream), _tokens(4000, 2) + f" token {GITHUB_TOKEN} end")
    assert small.status_code == large.status_code == 403
    assert small.headers["X-Glassbreak-Reason"] == large.headers["X-Glassbreak-Reason"] \
        == "secret_detected"
    # the same finding, keyed hash included: the worker hashes with the proxy's key
    assert small.json()["findings"] == large.json()["findings"]
    # and in base64 inside the large body, a layer the worker peels
    hidden = base64.b64encode(f"token={GITHUB_TOKEN}".encode()).decode()
    reply = _post(proxy, _url(upstream), _tokens(4000, 3) + f" data {hidden} end")
    assert reply.status_code == 403, "a base64 secret in a large body went through"


def test_a_large_body_is_redacted_and_checked_again_in_the_worker(
        proxy: Proxy, upstream: Upstream) -> None:
    body = _tokens(4000, 4) + f" aws {AWS_KEY} end"
    reply = _post(proxy, _url(upstream, "api.allowed.test"), body)
    assert reply.status_code == 200
    redacted = body.replace(AWS_KEY, placeholder("aws_access_key")).encode()
    # what the upstream received, by its digest: the key replaced, nothing else changed
    assert reply.json()["body_sha256"] == hashlib.sha256(redacted).hexdigest()


def test_a_worker_killed_mid_request_blocks_it_and_a_new_worker_serves_the_next(
        proxy: Proxy, upstream: Upstream) -> None:
    (worker, *_) = _wait_for_workers(proxy)
    result: dict[str, requests.Response] = {}
    thread = threading.Thread(target=lambda: result.setdefault(
        "reply", _post(proxy, _url(upstream), _tokens(TOKENS, 5))))
    thread.start()
    time.sleep(0.5)
    os.kill(worker, signal.SIGKILL)  # a crash or the OOM killer, mid-inspection
    thread.join(MAX_WAIT)
    reply = result["reply"]
    assert reply.status_code == 500 or reply.status_code == 403
    assert reply.headers["X-Glassbreak-Reason"] == "internal_error"
    replaced = _wait_for_workers(proxy)
    assert worker not in replaced
    again = _post(proxy, _url(upstream), _tokens(4000, 6))
    assert again.status_code == 200
    assert "inspection worker restarted" in proxy.log.read_text(errors="replace")


def test_the_workers_end_with_the_proxy(upstream: Upstream, upstream_ca_file: Path,
                                        tmp_path: Path) -> None:
    """Stopped (SIGTERM) or killed (SIGKILL, no chance to clean up), the proxy leaves no
    worker behind."""
    path = tmp_path / "rules.yaml"
    path.write_text(_rules(upstream), encoding="utf-8")
    for how in (signal.SIGTERM, signal.SIGKILL):
        running = start_proxy(path, tmp_path / f"state-{how}", upstream_ca=upstream_ca_file,
                              extra_args=["--inspection-workers", "2"])
        workers = _wait_for_workers(running, 2)
        # and they run niced, below the event loop that serves every client
        assert all(_niceness(pid) == _niceness(running.process.pid) + 10 for pid in workers)
        running.process.send_signal(how)
        running.process.wait(30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in workers), f"a worker outlived the proxy ({how})"


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
