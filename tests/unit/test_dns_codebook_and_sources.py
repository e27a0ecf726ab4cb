"""Red-team round 2, findings 1 and 2, in process with a fake clock and a fake zone.

1. A codebook tunnel: a fixed set of ordinary names and types, answered with TTL 0 so that every
   repeat went upstream. Answers are now kept at least `min_ttl`, and the questions a client
   makes the server forward are bounded (`forwarded`, `forwarded_long`).
2. Many (or forged) source addresses: the per-client windows multiply, and more addresses than
   the client table holds made it forget them. All clients' totals per window key are now
   bounded too, and tripping them blocks the key for everyone (`dns_domain_blocked`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import ip_address

import dns.message
import pytest
from dnslib import AAAA, CNAME, HTTPS, QTYPE, RR, A, DNSRecord

from proxy.audit.record import DnsAuditRecord
from proxy.dns.all_clients import AllClients
from proxy.dns.counting import SLOTS, RecentSet, SlidingCount
from proxy.dns.service import DnsService
from proxy.dns.tunnelling import ALL_CLIENTS_SIGNALS, Signal
from proxy.dns.upstream import Forwarder, UpstreamAnswer
from proxy.dns.windows import TunnelDetector
from proxy.policy.dns_model import TunnellingPolicy, UpstreamResolver
from proxy.policy.loader import RuleFileError, load_rules_text

RULES = """\
version: 1
dns:
  client_qps: 1000000
  client_burst: 1000000
{dns}
destinations:
  - id: wild
    hosts: ["*.wild.example", "*.zone2.example", "*.other.example"]
"""
CODEBOOK_WORDS = [
    "www", "api", "cdn", "mail", "static", "img", "auth", "login", "app", "docs", "blog", "shop",
    "news", "media", "video", "files", "download", "upload", "assets", "status", "help", "support",
    "dev", "test", "stage", "beta", "m", "mobile", "ws", "push", "admin2", "portal", "search",
    "maps", "store", "pay", "billing", "account", "id", "sso", "vpn", "git", "ci", "build",
    "registry", "npm", "pypi", "mirror", "proxy", "edge", "origin", "lb", "ns1", "ns2", "smtp",
    "imap", "pop", "ftp", "sftp", "time",
]
CODEBOOK_TYPES = ["A", "AAAA", "CNAME", "HTTPS", "SVCB"]  # the defaults served


class FakeZone(Forwarder):
    """An attacker's (or any) zone: answers every question of the types it knows with `ttl`,
    and counts what reaches it."""

    def __init__(self, ttl: int) -> None:
        super().__init__((UpstreamResolver(address=ip_address("127.0.51.1")),), 1.0)
        self.ttl = ttl
        self.asked: list[tuple[str, int]] = []

    async def resolve(self, name: str, qtype: int) -> UpstreamAnswer:
        self.asked.append((name, qtype))
        reply = DNSRecord.question(name, QTYPE.get(qtype)).reply()
        rdata = {1: A("93.184.215.14"), 28: AAAA("2606:2800:220:1::1"),
                 5: CNAME("target.cdn.example"), 65: HTTPS(1, [], [])}.get(qtype)
        if rdata is not None:  # SVCB: NODATA, which negative_ttl keeps
            reply.add_answer(RR(name, qtype, ttl=self.ttl, rdata=rdata))
        return UpstreamAnswer(response=reply, resolver="fake")


class Recorder:
    def __init__(self) -> None:
        self.records: list[DnsAuditRecord] = []

    def write(self, record: DnsAuditRecord) -> None:
        self.records.append(record)


@dataclass
class Lab:
    """The real DnsService (cache, detector, decision) in front of a FakeZone."""

    service: DnsService
    zone: FakeZone
    audit: Recorder
    clock: list[float]

    @classmethod
    def make(cls, *, ttl: int = 0, dns_section: str = "") -> Lab:
        clock = [1000.0]
        audit = Recorder()
        policy = load_rules_text(RULES.format(dns=dns_section), "<test>")
        service = DnsService(policy, audit, clock=lambda: clock[0])  # type: ignore[arg-type]
        zone = FakeZone(ttl)
        service.forwarder = zone
        return cls(service, zone, audit, clock)

    async def ask(self, name: str, rdtype: str = "A", client: str = "10.0.0.1"
                  ) -> tuple[DnsAuditRecord, dns.message.Message]:
        sent: list[bytes] = []
        self.service.handle(dns.message.make_query(name, rdtype).to_wire(), client, "udp",
                            sent.append)
        await self.service.drain()
        assert len(sent) == 1
        return self.audit.records[-1], dns.message.from_wire(sent[0])


def run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(coroutine)


# --- the cache floor -------------------------------------------------------------------------

FLOOR = [
    # (case, zone TTL, dns section, TTL the client sees first, after 10 s, cached for)
    ("ttl-0-raised-to-the-floor", 0, "", 30, 20, 30),
    ("ttl-5-raised", 5, "", 30, 20, 30),
    ("ttl-300-as-is", 300, "", 300, 290, 300),
    ("ttl-above-max", 90_000, "", 3600, 3590, 3600),
    ("floor-60", 0, "  min_ttl: 60", 60, 50, 60),
    ("floor-wins-over-max_ttl", 0, "  max_ttl: 10", 30, 20, 30),
]


@pytest.mark.parametrize(("case", "ttl", "section", "first", "later", "kept"), FLOOR,
                         ids=[row[0] for row in FLOOR])
def test_positive_answers_are_cached_at_least_min_ttl(case: str, ttl: int, section: str,
                                                      first: int, later: int, kept: int) -> None:
    async def scenario() -> None:
        lab = Lab.make(ttl=ttl, dns_section=section)
        _, answer = await lab.ask("x.wild.example")
        assert answer.answer[0].ttl == first
        lab.clock[0] += 10
        line, answer = await lab.ask("x.wild.example")
        assert answer.answer[0].ttl == later and not line.forwarded
        lab.clock[0] += kept - 10 - 0.5
        await lab.ask("x.wild.example")
        assert len(lab.zone.asked) == 1  # every repeat within the time was a cache hit
        lab.clock[0] += 0.5
        line, _ = await lab.ask("x.wild.example")
        assert line.forwarded and len(lab.zone.asked) == 2

    run(scenario())


def test_min_ttl_0_turns_the_floor_off_and_the_forwarded_bound_still_holds() -> None:
    async def scenario() -> None:
        lab = Lab.make(ttl=0, dns_section="  min_ttl: 0\n  tunnelling:\n    max_forwarded: 20")
        reasons = [(await lab.ask("x.wild.example"))[0].reason for _ in range(25)]
        assert reasons[:20] == ["allowed"] * 20 and set(reasons[20:]) == {"dns_tunnelling"}
        assert len(lab.zone.asked) == 20

    run(scenario())


@pytest.mark.parametrize(("value", "ok"), [(0, True), (30, True), (300, True), (301, False),
                                           (-1, False)])
def test_min_ttl_is_bounded(value: int, ok: bool) -> None:
    text = RULES.format(dns=f"  min_ttl: {value}")
    if ok:
        assert load_rules_text(text, "<test>").dns.min_ttl == value
    else:
        with pytest.raises(RuleFileError, match="min_ttl"):
            load_rules_text(text, "<test>")


# --- finding 1: the codebook ------------------------------------------------------------------


@dataclass
class Outcome:
    questions: int
    reached_zone: int
    detected_after: float | None  # seconds from the start, None: never
    signals: set[str]
    reasons: set[str]


async def codebook(lab: Lab, *, rate: float, seconds: float, names: int = 60,
                   types: Iterable[str] = CODEBOOK_TYPES, client: str = "10.0.0.1",
                   zone: str = "cb.wild.example", until_detected: bool = False) -> Outcome:
    """Symbols drawn at random (a payload's bytes) from names x types, `rate` a second."""
    rng = random.Random(7)
    symbols = [(f"{word}.{zone}", rdtype) for word in CODEBOOK_WORDS[:names]
               for rdtype in types]
    start, detected, signals, reasons = lab.clock[0], None, set(), set()
    count = int(seconds * rate)
    for _ in range(count):
        name, rdtype = rng.choice(symbols)
        line, _ = await lab.ask(name, rdtype, client)
        reasons.add(line.reason)
        if line.signals and detected is None:
            detected = lab.clock[0] - start
        signals.update(line.signals)
        lab.clock[0] += 1 / rate
        if until_detected and detected is not None:
            break
    return Outcome(count, len(lab.zone.asked), detected, signals, reasons)


CODEBOOKS = [
    # (case, names, types, rate, seconds, signal, detected within seconds)
    # the report's run: 19 q/s, every symbol forwarded before; now ~255 forwards a half minute
    ("report-19qps", 60, CODEBOOK_TYPES, 19.0, 150, "forwarded", 60),
    # slow enough for the short window (~200 forwards a minute): the long one catches it
    ("slow-4qps", 60, CODEBOOK_TYPES, 4.0, 3600, "forwarded_long", 1500),
    ("a-and-aaaa-only-3.5qps", 60, ["A", "AAAA"], 3.5, 3600, "forwarded_long", 2000),
]


@pytest.mark.parametrize(("case", "names", "types", "rate", "seconds", "signal", "within"),
                         CODEBOOKS, ids=[row[0] for row in CODEBOOKS])
def test_a_codebook_of_ordinary_names_is_detected_within_the_long_window(
        case: str, names: int, types: list[str], rate: float, seconds: float, signal: str,
        within: float) -> None:
    lab = Lab.make(ttl=0)
    outcome = run(codebook(lab, rate=rate, seconds=seconds, names=names, types=types,
                           until_detected=True))
    assert outcome.detected_after is not None and outcome.detected_after <= within, outcome
    assert signal in outcome.signals and "dns_tunnelling" in outcome.reasons
    # Nothing more reached the zone than the bound that tripped allows.
    bound = getattr(lab.service.policy.dns.tunnelling, f"max_{signal}")
    assert outcome.reached_zone <= bound, outcome


def test_after_the_detection_nothing_reaches_the_zone_while_blocked() -> None:
    lab = Lab.make(ttl=0)
    first = run(codebook(lab, rate=19.0, seconds=60))
    assert first.detected_after is not None
    reached = len(lab.zone.asked)
    later = run(codebook(lab, rate=19.0, seconds=200))  # inside block_seconds (300)
    assert later.reached_zone == reached and later.reasons == {"dns_tunnelling"}


HONEST = [
    # (case, names, types, TTL, seconds between rounds, rounds): never a signal
    # the same 50 names re-asked every minute, normal TTL: nearly all from the cache
    ("50-names-every-minute-ttl-300", 50, ["A", "AAAA", "HTTPS"], 300, 60.0, 70),
    # a low-TTL API polled every few seconds for an hour, A + AAAA + HTTPS
    ("5-names-every-5s-ttl-0", 5, ["A", "AAAA", "HTTPS"], 0, 5.0, 720),
    ("20-names-every-10s-ttl-60", 20, ["A", "AAAA"], 60, 10.0, 360),
]


@pytest.mark.parametrize(("case", "names", "types", "ttl", "every", "rounds"), HONEST,
                         ids=[row[0] for row in HONEST])
def test_honest_repeats_are_not_detected(case: str, names: int, types: list[str], ttl: int,
                                         every: float, rounds: int) -> None:
    async def scenario() -> None:
        lab = Lab.make(ttl=ttl)
        for _ in range(rounds):
            for word in CODEBOOK_WORDS[:names]:
                for rdtype in types:
                    line, _ = await lab.ask(f"{word}.wild.example", rdtype)
                    assert line.reason == "allowed" and not line.signals, line
            lab.clock[0] += every

    run(scenario())


def test_a_few_hundred_distinct_names_an_hour_are_not_detected() -> None:
    async def scenario() -> None:
        lab = Lab.make(ttl=300)
        for i in range(250):  # under one window key: a browsing agent's hour
            for rdtype in ("A", "AAAA", "HTTPS"):
                line, _ = await lab.ask(f"page-{i}.wild.example", rdtype)
                assert line.reason == "allowed" and not line.signals, line
            lab.clock[0] += 14.0
        for i in range(400):  # spread over two other keys, faster
            line, _ = await lab.ask(f"host-{i}.{['zone2', 'other'][i % 2]}.example")
            assert line.reason == "allowed" and not line.signals, line
            lab.clock[0] += 3.0

    run(scenario())


# --- finding 2: many addresses ----------------------------------------------------------------


def test_forty_addresses_with_distinct_payloads_trip_the_all_clients_window() -> None:
    """The report's t02: 40 addresses, 57 distinct names a minute each (under the per-client
    60). The key is then blocked for everyone, a bystander included."""
    async def scenario() -> None:
        lab = Lab.make(ttl=300)
        detected_at = None
        for second in range(120):
            for address in range(40):
                if second % 60 < 57:
                    name = f"p{second}-{address}.x.wild.example"
                    line, _ = await lab.ask(name, client=f"10.1.0.{address}")
                    if detected_at is None and Signal.ALL_CLIENTS_UNIQUE_SUBDOMAINS in (
                            line.signals):
                        detected_at = second
            lab.clock[0] += 1.0
        assert detected_at is not None and detected_at <= 16
        line, _ = await lab.ask("www.wild.example", client="10.9.9.9")
        assert line.reason == "dns_domain_blocked" and line.name == "[payload:3].wild.example."
        other, _ = await lab.ask("www.zone2.example", client="10.9.9.9")
        assert other.reason == "allowed"  # only the key the traffic went to
        assert len(lab.zone.asked) <= 601
        lab.clock[0] += 301  # block_seconds later, an ordinary name resolves again
        line, _ = await lab.ask("www.wild.example", client="10.9.9.9")
        assert line.reason == "allowed"

    run(scenario())


@pytest.mark.parametrize(("addresses", "section"), [
    (1100, ""),
    # the report's t03 thresholds: per client 3, all clients then 30 by default
    (1100, "  tunnelling:\n    max_unique_subdomains: 3\n    max_unique_subdomains_long: 3"),
], ids=["defaults", "report-t03-thresholds"])
def test_more_addresses_than_the_client_table_are_still_detected(addresses: int,
                                                                 section: str) -> None:
    """1,100 addresses cycling round-robin, 6 distinct names each: more than the client table
    (1,024) holds, so every address comes back to a forgotten window."""
    async def scenario() -> None:
        lab = Lab.make(ttl=300, dns_section=section)
        signals: set[str] = set()
        for round_ in range(6):
            for address in range(addresses):
                client = f"10.{2 + address // 250}.{address % 250}.1"
                line, _ = await lab.ask(f"d{round_}-{address}.t.wild.example", client=client)
                signals.update(line.signals)
            lab.clock[0] += 1.0
        policy = lab.service.policy.dns.tunnelling
        assert Signal.ALL_CLIENTS_UNIQUE_SUBDOMAINS in signals
        assert len(lab.zone.asked) <= policy.all_clients_max_unique_subdomains + 1

    run(scenario())


def test_the_shared_cache_keeps_an_honest_fleet_under_the_all_clients_bounds() -> None:
    """100 clients asking the same 10 names every minute for a quarter of an hour: the cache is
    shared, so what reaches the upstream does not grow with the number of clients."""
    async def scenario() -> None:
        lab = Lab.make(ttl=60, dns_section="  tunnelling:\n    all_clients_max_forwarded: 300")
        for _ in range(15):
            for client in range(100):
                for word in CODEBOOK_WORDS[:10]:
                    line, _ = await lab.ask(f"{word}.wild.example", client=f"10.3.{client}.1")
                    assert line.reason == "allowed" and not line.signals, line
            lab.clock[0] += 60.0
        assert len(lab.zone.asked) <= 10 * 15

    run(scenario())


def test_one_clients_refused_flood_does_not_block_the_domain_for_others() -> None:
    async def scenario() -> None:
        lab = Lab.make(ttl=300)
        reasons = [(await lab.ask(f"j{i}.wild.example"))[0].reason for i in range(2000)]
        assert reasons[60] == "dns_tunnelling"  # the client's own window: the 61st
        line, _ = await lab.ask("www.wild.example", client="10.9.9.9")
        assert line.reason == "allowed"

    run(scenario())


# --- the detector's tables ------------------------------------------------------------------


def detector(**overrides: object) -> tuple[TunnelDetector, list[float]]:
    clock = [0.0]
    policy = TunnellingPolicy(**overrides)  # type: ignore[arg-type]
    return TunnelDetector(policy, lambda: clock[0], max_window_clients=4), clock


def test_an_evicted_client_stays_counted_by_all_clients() -> None:
    """The client table holds 4: evicting a client forgets its own window, not what it sent."""
    det, _clock = detector(max_unique_subdomains=50, all_clients_max_unique_subdomains=30)
    for i in range(25):
        assert det.observe("a", "k.example", f"a{i}", 1) == ()
    for j in range(4):  # four others evict "a"
        det.observe(f"other{j}", "k.example", "same", 1)
    assert "a" not in det._windows
    found = [det.observe("a", "k.example", f"b{i}", 1) for i in range(6)]
    assert found[:4] == [()] * 4  # 25 + 1 ("same") + 4 = 30: at the threshold
    assert Signal.ALL_CLIENTS_UNIQUE_SUBDOMAINS in found[4]


@pytest.mark.parametrize(("forwarded", "expected"), [
    (True, {Signal.FORWARDED}), (False, set()),
])
def test_only_questions_that_go_upstream_count_as_forwarded(forwarded: bool,
                                                            expected: set[Signal]) -> None:
    det, clock = detector(max_forwarded=10)
    found: set[Signal] = set()
    for _ in range(11):
        found.update(det.observe("c", "k.example", "same", 1, forwarded=forwarded))
        clock[0] += 0.1
    assert found == expected


def test_forwarded_counts_slide_with_the_window() -> None:
    det, clock = detector(max_forwarded=10, max_forwarded_long=1000)
    for _ in range(10):
        assert det.observe("c", "k.example", "same", 1) == ()
    clock[0] += 62  # one bucket (1 s) past the window: forgotten
    assert det.observe("c", "k.example", "same", 1) == ()


def test_refused_questions_do_not_count_as_forwarded_or_for_all_clients() -> None:
    det, _ = detector(max_forwarded=5, all_clients_max_unique_subdomains=5)
    for i in range(20):
        det.observe("c", "k.example", f"s{i}", 1, refused=True)
    assert det.observe("c", "k.example", "fresh", 1) == ()
    assert det._all_clients._totals["k.example"].forwarded.total == 1


@pytest.mark.parametrize("signal", sorted(ALL_CLIENTS_SIGNALS))
def test_every_all_clients_signal_trips_at_its_threshold(signal: Signal) -> None:
    policy = TunnellingPolicy(
        all_clients_max_unique_subdomains=1000 if "unique" not in signal or "long" in signal
        else 5,
        all_clients_max_unique_subdomains_long=5 if signal.endswith("subdomains_long") else 1000,
        all_clients_max_forwarded=5 if signal == "all_clients_forwarded" else 1000,
        all_clients_max_forwarded_long=5 if signal == "all_clients_forwarded_long" else 1000)
    totals = AllClients(policy)
    # distinct names for the unique signals, one repeated name for the forwarded ones
    found = [totals.observe(float(i * 61 if "long" in signal else i), "k.example",
                            f"s{i}" if "unique" in signal else "same", forwarded=True)
             for i in range(6)]
    assert found[:5] == [[]] * 5 and found[5] == [signal]


def test_a_full_key_block_table_blocks_every_key() -> None:
    totals = AllClients(TunnellingPolicy(block_seconds=30), max_blocked_keys=2)
    totals.block(0.0, "a.example")
    totals.block(0.0, "b.example")
    totals.block(1.0, "c.example")  # no room, no active block may go: fail closed
    assert all(totals.blocked(2.0, k) for k in ("a.example", "b.example", "c.example",
                                                "never-seen.example"))
    assert not totals.blocked(31.5, "never-seen.example")
    totals.block(32.0, "d.example")  # expired entries make room again
    assert totals.blocked(33.0, "d.example") and not totals.blocked(33.0, "a.example")


def test_a_full_key_table_evicts_the_lightest_key() -> None:
    totals = AllClients(TunnellingPolicy(), max_keys=3)
    for i in range(50):
        totals.observe(0.0, "tunnel.example", f"s{i}", forwarded=True)
    totals.observe(0.0, "b.example", "www", forwarded=True)
    totals.observe(0.0, "c.example", "www", forwarded=True)
    totals.observe(0.0, "d.example", "www", forwarded=True)
    assert set(totals._totals) == {"tunnel.example", "c.example", "d.example"}


def test_the_counters_stay_bounded() -> None:
    count = SlidingCount()
    for i in range(100_000):
        count.add(i * 0.05, 3600.0)
        count.prune(i * 0.05, 3600.0)
    assert len(count.buckets) <= SLOTS + 1
    seen = RecentSet()
    for i in range(10_000):
        seen.add(f"s{i}", float(i), cap=301)
    assert len(seen) == 301
    seen.prune(10_000.0)
    assert len(seen) == 0


# --- the rule file ----------------------------------------------------------------------------


def test_all_clients_thresholds_default_to_ten_clients_worth() -> None:
    policy = load_rules_text(RULES.format(dns="  tunnelling:\n    max_unique_subdomains: 20"),
                             "<test>").dns.tunnelling
    assert (policy.all_clients_max_unique_subdomains, policy.all_clients_max_unique_subdomains_long,
            policy.all_clients_max_forwarded, policy.all_clients_max_forwarded_long) == (
        200, 3000, 3000, 36_000)
    defaults = load_rules_text(RULES.format(dns=""), "<test>").dns.tunnelling
    assert defaults == TunnellingPolicy()


def test_an_all_clients_threshold_below_the_per_client_one_is_refused() -> None:
    text = RULES.format(dns="  tunnelling:\n    all_clients_max_forwarded_long: 100")
    with pytest.raises(RuleFileError, match="one client alone would block the domain"):
        load_rules_text(text, "<test>")
