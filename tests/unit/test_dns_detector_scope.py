"""Red-team findings on the DNS detector, in process with a fake clock: the detection scope under
public-suffix wildcards (F1), answer types (F2), per-client detector tables (F3) and secrets split
across labels in the audit name (F6)."""

from __future__ import annotations

import os

import dns.message
import pytest
from dnslib import CNAME as CNAMERecord
from dnslib import QTYPE, RR, TXT, A, DNSRecord

from proxy.audit.record import DnsAuditRecord
from proxy.dns.answers import answer_records
from proxy.dns.names import name_info
from proxy.dns.scope import detection_scope, wildcard_patterns
from proxy.dns.secrets_in_names import secret_labels
from proxy.dns.service import DnsService
from proxy.dns.tunnelling import query_signals
from proxy.dns.windows import TunnelDetector
from proxy.inspection.scanner import Scanner
from proxy.policy.dns_model import TunnellingPolicy
from proxy.policy.loader import load_rules_text
from proxy.runtime.dns_process import CREDENTIALS, name_scrubber, name_secret_finder

RULES = """\
version: 1
dns:
  client_qps: 1000000
  client_burst: 1000000
  tunnelling:
    max_unique_subdomains: 20
destinations:
  - id: gh
    hosts: [codeload.github.com, "*.githubusercontent.com", "*.github.io"]
  - id: cdn
    hosts: ["*.cloudfront.net", "*.cdn.example.com"]
  - id: ex
    hosts: ["*.allowed.example", allowed.example]
"""
POLICY = load_rules_text(RULES, "<test>")
WILDCARDS = wildcard_patterns(POLICY)
TUNNEL = TunnellingPolicy()


def labels_of(name: str) -> tuple[bytes, ...]:
    return tuple(label.encode() for label in name.rstrip(".").split("."))


def scope_of(name: str):  # type: ignore[no-untyped-def]
    labels = labels_of(name)
    return detection_scope(labels, name_info(labels), WILDCARDS)


def signals_of(name: str) -> set[str]:
    labels = labels_of(name)
    scope = detection_scope(labels, name_info(labels), WILDCARDS)
    return {s.value for s in query_signals(scope.chosen, sum(len(x) + 1 for x in labels), TUNNEL)}


HEX63 = "4a6f686e20446f652073656372657420746f6b656e4a6f686e20446f65207365"[:63]
B32 = "mfrggzdfmztwq2lknnwg23tpobyxe43uov3ho6dzpi2a"

# --- F1: the scope under public-suffix wildcards ------------------------------------------------

SCOPES = [
    # (case, name, window key, labels checked)
    ("psl-wildcard", f"{HEX63}.githubusercontent.com", "githubusercontent.com", 1),
    ("psl-wildcard-deep", "a.b.raw.githubusercontent.com", "githubusercontent.com", 3),
    ("pages", "user.github.io", "github.io", 1),
    ("cdn-on-psl", "d1234.cloudfront.net", "cloudfront.net", 1),
    ("wildcard-below-registered", "x.y.cdn.example.com", "example.com", 3),
    ("exact-name", "codeload.github.com", "github.com", 1),
    ("ordinary-wildcard", "w1.allowed.example", "allowed.example", 1),
    ("not-matched", "a.b.unlisted.example", "unlisted.example", 2),
]


@pytest.mark.parametrize(("case", "name", "key", "checked"), SCOPES, ids=[c for c, *_ in SCOPES])
def test_window_key_is_a_suffix_the_client_cannot_vary(case: str, name: str, key: str,
                                                        checked: int) -> None:
    scope = scope_of(name)
    assert (scope.key, len(scope.chosen)) == (key, checked)


SIGNALS = [
    # (case, name, flagged)
    ("hex-under-psl-wildcard", f"{HEX63}.githubusercontent.com", True),
    ("base32-under-pages", f"{B32}.github.io", True),
    ("hex-under-cloudfront", f"{HEX63[:40]}.cloudfront.net", True),
    ("raw", "raw.githubusercontent.com", False),
    ("user-images", "private-user-images.githubusercontent.com", False),
    ("pages-user", "my-org-docs.github.io", False),
    ("cloudfront-id", "d1a2b3c4d5e6f7.cloudfront.net", False),
    ("cloudfront-id-13", "dkdtq8bm3xqfg.cloudfront.net", False),
]


@pytest.mark.parametrize(("case", "name", "flagged"), SIGNALS, ids=[c for c, *_ in SIGNALS])
def test_labels_under_a_public_suffix_wildcard_are_checked(case: str, name: str,
                                                           flagged: bool) -> None:
    assert bool(signals_of(name)) is flagged


# --- the service: windows, blocks, logged names ---------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.records: list[DnsAuditRecord] = []

    def write(self, record: DnsAuditRecord) -> None:
        self.records.append(record)


def service(scanner: Scanner | None = None) -> tuple[DnsService, Recorder, list[float]]:
    clock = [1000.0]
    audit = Recorder()
    svc = DnsService(POLICY, audit, clock=lambda: clock[0],  # type: ignore[arg-type]
                     scrub=None if scanner is None else name_scrubber(scanner),
                     find_secrets=None if scanner is None else name_secret_finder(scanner),
                     credentials=CREDENTIALS)
    return svc, audit, clock


def ask(svc: DnsService, audit: Recorder, name: str, client: str = "10.0.0.1",
        rdtype: str = "A") -> DnsAuditRecord:
    sent: list[bytes] = []
    svc.handle(dns.message.make_query(name, rdtype).to_wire(), client, "udp", sent.append)
    assert sent
    return audit.records[-1]


def test_unique_payloads_under_a_psl_wildcard_share_one_window() -> None:
    svc, audit, _ = service()
    reasons = [ask(svc, audit, f"w{i}x.githubusercontent.com").reason for i in range(25)]
    # No upstream here: allowed names get resolution_failed; the window trips after 20.
    assert reasons[:20] == ["resolution_failed"] * 20
    assert set(reasons[21:]) == {"dns_tunnelling"}


def test_payload_label_under_psl_wildcard_is_masked_in_the_log() -> None:
    svc, audit, _ = service()
    line = ask(svc, audit, f"{HEX63}.githubusercontent.com")
    assert line.reason == "dns_tunnelling" and HEX63 not in str(line.name)
    assert line.name == "[payload:63].githubusercontent.com."


def test_refused_names_get_no_window_and_cannot_flush_a_window() -> None:
    svc, audit, _ = service()
    for i in range(15):
        ask(svc, audit, f"w{i}x.allowed.example")
    for i in range(5000):  # t3 (a): refused junk, never forwarded
        ask(svc, audit, f"a.junk{i}.com")
    assert len(svc.detector._windows["10.0.0.1"]) == 1
    reasons = [ask(svc, audit, f"w{i}x.allowed.example").reason for i in range(15, 30)]
    assert "dns_tunnelling" in reasons


def test_a_block_is_not_lifted_by_junk_detections() -> None:
    svc, audit, _ = service()
    assert ask(svc, audit, f"{HEX63}.allowed.example").reason == "dns_tunnelling"
    assert ask(svc, audit, "www.allowed.example").reason == "dns_tunnelling"
    for i in range(5000):  # t3 (b): long-label detections on refused junk domains
        ask(svc, audit, "a" * 60 + f".junk{i}.com")
    assert ask(svc, audit, "www.allowed.example").reason == "dns_tunnelling"
    assert ask(svc, audit, "www.allowed.example", client="10.0.0.2").reason == (
        "resolution_failed")


def test_other_clients_cannot_evict_a_clients_window_or_block() -> None:
    clock = [0.0]
    det = TunnelDetector(TunnellingPolicy(max_unique_subdomains=5), lambda: clock[0],
                         max_window_clients=4, max_blocked_clients=4)
    for i in range(5):
        det.observe("victim", "k.example", f"s{i}", 1)
    det.block("blocked", "k.example")
    for i in range(3):  # fewer than the table: the victim's window stays
        det.observe(f"other{i}", "k.example", "s", 1)
    assert det.observe("victim", "k.example", "s5", 1)  # the sixth unique still counts
    for i in range(100):  # many clients with windows: windows go, the block stays
        det.observe(f"many{i}", "k.example", "s", 1)
    assert det.blocked("blocked", "k.example")


def test_a_clients_own_windows_evict_only_its_own() -> None:
    clock = [0.0]
    det = TunnelDetector(TunnellingPolicy(max_unique_subdomains=5), lambda: clock[0],
                         max_windows_per_client=2)
    for i in range(5):
        det.observe("other", "k.example", f"s{i}", 1)
    for key in ("a.example", "b.example", "c.example"):
        det.observe("me", key, "s", 1)
    assert det.observe("other", "k.example", "s5", 1)
    assert list(det._windows["me"]) == ["b.example", "c.example"]


def test_a_full_block_table_blocks_the_client_for_everything() -> None:
    clock = [0.0]
    det = TunnelDetector(TunnellingPolicy(block_seconds=30), lambda: clock[0],
                         max_blocks_per_client=3)
    for i in range(4):
        det.block("c", f"d{i}.example")
    assert all(det.blocked("c", f"d{i}.example") for i in range(4))
    assert det.blocked("c", "never-seen.example") and not det.blocked("x", "d0.example")
    clock[0] += 31
    assert not det.blocked("c", "never-seen.example")


def test_a_full_blocked_client_table_fails_closed_and_keeps_every_block() -> None:
    clock = [0.0]
    det = TunnelDetector(TunnellingPolicy(block_seconds=30), lambda: clock[0],
                         max_blocked_clients=3)
    for i in range(3):
        det.block(f"c{i}", "d.example")
    det.block("new", "d.example")  # no room, nothing may be evicted: fail closed
    assert all(det.blocked(f"c{i}", "d.example") for i in range(3))
    assert det.blocked("new", "d.example") and det.blocked("bystander", "d.example")
    clock[0] += 31
    assert not det.blocked("bystander", "d.example")
    det.block("later", "d.example")  # expired entries make room again
    assert det.blocked("later", "d.example") and not det.blocked("bystander", "d.example")


# --- F2: answers of the asked type only -----------------------------------------------------------


def test_records_of_another_type_are_dropped_from_an_answer() -> None:
    reply = DNSRecord.question("x.allowed.example", "A").reply()
    reply.add_answer(RR("x.allowed.example", QTYPE.CNAME, rdata=CNAMERecord("y.allowed.example")))
    reply.add_answer(RR("y.allowed.example", QTYPE.A, rdata=A("93.184.215.14")))
    reply.add_answer(RR("y.allowed.example", QTYPE.TXT, rdata=TXT("exfil")))
    reply.add_answer(RR("x.allowed.example", QTYPE.TXT, rdata=TXT("exfil")))
    reply.add_answer(RR("x.allowed.example", QTYPE.NULL, rdata=TXT("exfil")))
    kept = answer_records(reply, "x.allowed.example", QTYPE.A)
    assert [QTYPE.get(r.rtype) for r in kept] == ["CNAME", "A"]
    assert [QTYPE.get(r.rtype) for r in answer_records(reply, "x.allowed.example",
                                                        QTYPE.TXT)] == ["CNAME", "TXT", "TXT"]


# --- F6: secrets split across labels --------------------------------------------------------------

PAT = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
AWS = "AKIAZ7QWERTYUIOPASDF"


_SPLIT_NAMES = [
    ("pat-by-20", ".".join(PAT[i:i + 20] for i in range(0, len(PAT), 20)) + ".allowed.example"),
    ("pat-by-8", ".".join(PAT[i:i + 8] for i in range(0, len(PAT), 8)) + ".allowed.example"),
    ("pat-hyphens", "-".join(PAT[i:i + 10] for i in range(0, len(PAT), 10)) + ".allowed.example"),
    ("aws-by-5", ".".join(AWS[i:i + 5] for i in range(0, len(AWS), 5)) + ".unlisted.example"),
    ("aws-mixed", f"{AWS[:7]}.{AWS[7:12]}-{AWS[12:]}.githubusercontent.com"),
    # names are case-insensitive: a key of one case sent lower-cased is read back upper-cased
    ("aws-lower-cased", f"{AWS.lower()}.allowed.example"),
    ("aws-lower-cased-by-5", ".".join(AWS.lower()[i:i + 5] for i in range(0, 20, 5))
     + ".allowed.example"),
    # the key's last piece is the registered domain of a name that is not allowed
    ("pat-into-the-domain", f"{PAT[:24]}.{PAT[24:]}"),
    ("aws-into-the-domain", f"{AWS[:10]}.{AWS[10:]}.com"),
    ("pat-hyphens-into-the-domain", f"{PAT[:20]}-{PAT[20:]}.net"),
]


# ids name the case only: test output must not carry key-shaped strings
@pytest.mark.parametrize(("case", "name"), [pytest.param(*row, id=row[0]) for row in _SPLIT_NAMES])
def test_a_secret_split_across_labels_is_not_logged(case: str, name: str) -> None:
    svc, audit, _ = service(Scanner())
    logged = str(ask(svc, audit, name).name)
    assert "[REDACTED:" in logged or "[payload:" in logged
    for piece in (PAT[4:12], PAT[12:20], PAT[20:28], PAT[28:], AWS[4:9], AWS[10:]):
        assert piece.lower() not in logged.lower(), (case, logged)


@pytest.mark.parametrize(("case", "name"), [pytest.param(*row, id=row[0]) for row in [
    *_SPLIT_NAMES[:3], *_SPLIT_NAMES[4:-3],
    ("aws-label-then-another", f"{AWS.lower()}.x.githubusercontent.com"),
    ("aws-between-labels", f"a.{AWS}.b.allowed.example"),
]])
def test_a_credential_in_a_name_under_an_allowed_wildcard_refuses_it(case: str,
                                                                     name: str) -> None:
    svc, audit, _ = service(Scanner())
    record = ask(svc, audit, name)
    # (a long label of base64 letters is refused as a payload first)
    assert record.decision == "block" and not record.forwarded, case
    assert record.reason in ("secret_detected", "dns_tunnelling"), case
    assert record.reason == "secret_detected" or case == "pat-hyphens"


@pytest.mark.parametrize("name", [
    "raw.githubusercontent.com", "ec2-3-4-5-6.allowed.example",
    "deploy-preview-12.my-site.allowed.example", "d41d8cd98f00b204e9800998ecf8427e.allowed.example",
    "asiapacificsoutheast.allowed.example", "user-images.githubusercontent.com",
])
def test_ordinary_names_under_a_wildcard_are_not_read_as_credentials(name: str) -> None:
    svc, audit, _ = service(Scanner())
    assert ask(svc, audit, name).reason != "secret_detected"


def test_ordinary_names_are_logged_as_sent() -> None:
    svc, audit, _ = service(Scanner())
    for name in ("raw.githubusercontent.com", "deploy-preview-12.my-site.allowed.example",
                 "a.b.c.d.e.f.allowed.example"):
        assert ask(svc, audit, name).name == name + "."
    assert secret_labels(labels_of("www.allowed"), lambda texts: [[] for _ in texts]) == {}


def test_random_junk_labels_do_not_crash_the_secret_search() -> None:
    svc, audit, _ = service(Scanner())
    for _ in range(50):
        parts = [os.urandom(4).hex() for _ in range(6)]
        assert ask(svc, audit, ".".join(parts) + ".allowed.example").name


def test_names_of_a_tunnel_the_window_caught_are_logged_masked() -> None:
    """Short chunks raise no signal of their own: once the window says the traffic to a domain
    is a tunnel (and while the client is blocked for it), every label it chose is masked."""
    svc, audit, _ = service()
    chunks = [f"{i:02d}6b65792d" for i in range(25)]  # hex of a key, 10 characters a label
    logged = [str(ask(svc, audit, f"{chunk}.x.allowed.example").name) for chunk in chunks]
    assert logged[0] == f"{chunks[0]}.x.allowed.example."  # nothing to tell yet: as sent
    assert logged[20] == "[payload:10].[payload:1].allowed.example."  # the 21st: the window
    assert all(chunk not in name for chunk, name in zip(chunks[20:], logged[20:], strict=True))
    # an ordinary name of another client is logged as sent
    assert ask(svc, audit, "www.allowed.example", client="10.0.0.9").name == (
        "www.allowed.example.")
