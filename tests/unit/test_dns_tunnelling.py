"""The tunnelling detector: per-label tables with near misses, the sliding window with a fake
clock, and the corpus figures (python -m proxy.dns.evaluate)."""

from __future__ import annotations

import pytest

from proxy.dns.evaluate import evaluate, false_positives
from proxy.dns.tunnelling import Signal, label_signals
from proxy.dns.windows import TunnelDetector
from proxy.policy.dns_model import TunnellingPolicy

POLICY = TunnellingPolicy()

LABELS = [
    # (case, label, expected signals)
    ("word", b"www", set()),
    ("cdn-id", b"d1a2b3c4d5e6f7", set()),
    ("hex-23-near-miss", b"4a6f686e20446f6520736563", {Signal.HEX_LABEL}),
    ("hex-22", b"4a6f686e20446f65207365", set()),
    ("hex-all-digits", b"123456789012345678901234", set()),
    ("hex-payload", b"4a6f686e20446f652073656372657420746f6b656e", {Signal.HEX_LABEL}),
    ("base32", b"mfrggzdfmztwq2lknnwg23tpobyxe43u", {Signal.BASE32_LABEL, Signal.LABEL_ENTROPY}),
    ("letters-only-long", b"prodstorageaccountwestus", set()),
    ("storage-account", b"prodstorageaccount2024ab", set()),
    ("base64-mixed", b"SGVsbG8gV29ybGQhIFRoaXMgaXM", {Signal.BASE64_LABEL}),
    ("binary", b"\xbc\xde\xf0\xc1\xd2", {Signal.BINARY_LABEL}),
    ("short-binary", b"\xbc\xde", set()),
    ("human-long", b"this-is-a-very-long-but-perfectly-normal-label", set()),
    ("human-53", b"a-label-of-fifty-three-characters-which-is-over-limit", {Signal.LABEL_LENGTH}),
    ("youtube", b"r3---sn-4g5e6nz7", set()),
]


@pytest.mark.parametrize(("case", "label", "expected"), LABELS, ids=[c for c, _, _ in LABELS])
def test_label_signals(case: str, label: bytes, expected: set[Signal]) -> None:
    assert set(label_signals(label, POLICY)) == expected


def detector(**overrides: object) -> tuple[TunnelDetector, list[float]]:
    clock = [1000.0]
    policy = TunnellingPolicy(**overrides)  # type: ignore[arg-type]
    return TunnelDetector(policy, lambda: clock[0]), clock


def test_unique_subdomains_in_the_window() -> None:
    det, clock = detector(max_unique_subdomains=5, window_seconds=10)
    for i in range(5):
        assert det.observe("c", "x.example", f"s{i}", 1) == ()
    assert det.observe("c", "x.example", "s0", 1) == ()  # repeats are not new
    assert Signal.UNIQUE_SUBDOMAINS in det.observe("c", "x.example", "s5", 1)
    assert det.observe("other", "x.example", "s6", 1) == ()  # per client
    assert det.observe("c", "y.example", "s6", 1) == ()  # per domain
    clock[0] += 11  # the window slides: old subdomains are forgotten
    assert det.observe("c", "x.example", "s7", 1) == ()


def test_query_rate_and_txt_share() -> None:
    det, _clock = detector(max_queries=10, txt_share_min_queries=4, max_txt_share=0.5)
    signals = [det.observe("c", "x.example", "same", 16) for _ in range(4)]
    assert signals[:3] == [(), (), ()] and Signal.TXT_SHARE in signals[3]
    det2, clock2 = detector(max_queries=10)
    results = [det2.observe("c", "x.example", "same", 1) for _ in range(11)]
    assert Signal.QUERY_RATE in results[10] and results[9] == ()
    clock2[0] += 61
    assert det2.observe("c", "x.example", "same", 1) == ()


def test_blocks_expire() -> None:
    det, clock = detector(block_seconds=30)
    det.block("c", "x.example")
    assert det.blocked("c", "x.example") and not det.blocked("c", "y.example")
    clock[0] += 31
    assert not det.blocked("c", "x.example")


def test_window_state_is_bounded() -> None:
    det, _ = detector(max_unique_subdomains=10)
    for i in range(5000):
        det.observe("c", "x.example", f"s{i}", 1)
    window = det._windows["c"]["x.example"]
    assert len(window.subdomains) <= 11


def test_corpus_detection_and_false_positive_rates() -> None:
    figures = evaluate()
    assert figures["detection_all"] >= 0.95
    assert figures["detection_dnscat2"] == 1.0 and figures["detection_iodine-base32"] == 1.0
    assert figures["false_positive_rate"] <= 0.01
    assert [name for name, _ in false_positives()] == [
        "A95FBC180B680B58A6468EF929D6B9F2.gr7.us-west-2.eks.amazonaws.com"]
    assert 0 < figures["window_queries_until_blocked"] <= 61


def test_a_slow_tunnel_is_caught_by_the_long_window() -> None:
    """One new subdomain a second stays under 60 a minute, not under 300 an hour."""
    det, clock = detector()
    signals: list[tuple[Signal, ...]] = []
    for i in range(301):
        signals.append(det.observe("c", "t.example", f"chunk{i:04d}", 1))
        clock[0] += 1.05
    assert not any(Signal.UNIQUE_SUBDOMAINS in found for found in signals)
    assert Signal.UNIQUE_SUBDOMAINS_LONG in signals[-1]
    assert not any(Signal.UNIQUE_SUBDOMAINS_LONG in found for found in signals[:-1])


def test_the_long_window_forgets_what_is_older_than_it() -> None:
    det, clock = detector(max_unique_subdomains_long=10, long_window_seconds=100)
    for i in range(10):
        assert det.observe("c", "t.example", f"s{i}", 1) == ()
        clock[0] += 20  # each one left the short window already; 5 stay in the long one
    assert det.observe("c", "t.example", "s10", 1) == ()


def test_querying_many_other_domains_does_not_reset_the_tunnel_window() -> None:
    """A client's windows are bounded: the ones evicted first are those with the fewest
    subdomains, not the one it tunnels through (the least recently used would be)."""
    det, clock = detector(max_unique_subdomains_long=30)
    for i in range(30):
        det.observe("c", "tunnel.example", f"p{i}", 1)
        clock[0] += 3  # slow: the short window never fills
    for _ in range(3):
        for j in range(40):
            det.observe("c", f"other{j}.example", "www", 1)
    assert Signal.UNIQUE_SUBDOMAINS_LONG in det.observe("c", "tunnel.example", "p30", 1)
