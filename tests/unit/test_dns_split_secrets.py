"""Red team dns2, finding 4: a JWT cut into short labels (its dots lost or misplaced) is refused
and masked; mixed-case base64 cut into short labels, which no detector names, is masked in the
log. Near misses (ordinary names, CDN hashes, punycode, git SHAs) pass and stay readable. Test ids
name the case only: test output must not carry token-shaped strings."""

from __future__ import annotations

import base64
import json
import random
import string

import dns.message
import pytest

from proxy.audit.record import DnsAuditRecord
from proxy.dns.service import DnsService
from proxy.inspection.detectors import DETECTORS_BY_ID
from proxy.inspection.host_secrets import secret_in_host
from proxy.inspection.scanner import Scanner
from proxy.inspection.split_jwt import DETECTOR, MAX_STARTS, glued_jwt_spans
from proxy.policy.loader import load_rules_text
from proxy.runtime.dns_process import CREDENTIALS, name_scrubber, name_secret_finder
from tests.corpus import fakes

POLICY = load_rules_text("""\
version: 1
dns:
  client_qps: 1000000
  client_burst: 1000000
destinations:
  - id: wild
    hosts: ["*.wild.example", "*.cloudfront.net", "*.ci.example"]
""", "<test>")
SCANNER = Scanner()


class Recorder:
    def __init__(self) -> None:
        self.records: list[DnsAuditRecord] = []

    def write(self, record: DnsAuditRecord) -> None:
        self.records.append(record)


def ask(name: str) -> DnsAuditRecord:
    audit = Recorder()
    svc = DnsService(POLICY, audit, scrub=name_scrubber(SCANNER),  # type: ignore[arg-type]
                     find_secrets=name_secret_finder(SCANNER), credentials=CREDENTIALS)
    svc.handle(dns.message.make_query(name, "A").to_wire(), "10.0.0.1", "udp", lambda _: None)
    return audit.records[-1]


def chunks(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


def b64url(value: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()
                                    ).rstrip(b"=").decode()


# short enough for a name under 160 bytes (a longer one is refused as a tunnel first)
JWT = ".".join([b64url({"alg": "HS256", "typ": "JWT"}), b64url({"sub": "1234567890",
                "iat": 1516239022}), fakes.b64url(random.Random(3).randbytes(32))])
HEADER, PAYLOAD, SIGNATURE = JWT.split(".")
# the header's keys in another order, a kid: the header's length is not a multiple of 3
ODD = ".".join([b64url({"typ": "JWT", "kid": "k-17", "alg": "ES256"}), b64url({"sub": "u1"}),
                SIGNATURE[:30]])

JWT_NAMES = [
    # the red team's case: each part cut into 23-character labels
    ("by-23", ".".join(p for part in JWT.split(".") for p in chunks(part, 23)) + ".wild.example"),
    ("header-payload-by-20", ".".join(chunks(HEADER, 20) + chunks(PAYLOAD, 20)) + ".wild.example"),
    ("dots-lost-by-17", ".".join(chunks(JWT.replace(".", ""), 17)) + ".wild.example"),
    # cut 3 characters off the token's own dots (and short: a long label is a signal)
    ("dots-misplaced", ".".join(piece for part in (HEADER[:-3], HEADER[-3:] + PAYLOAD[:-3],
                                                   PAYLOAD[-3:] + SIGNATURE)
                                for piece in chunks(part, 20)) + ".wild.example"),
    ("with-hyphens", ".".join("-".join(chunks(piece, 10))
                              for piece in chunks(HEADER + PAYLOAD, 20)) + ".wild.example"),
    ("odd-lengths", ".".join(chunks(ODD.replace(".", ""), 21)) + ".wild.example"),
    ("behind-a-label", "x." + ".".join(chunks(HEADER + PAYLOAD, 22)) + ".y.wild.example"),
    ("not-allowed", ".".join(chunks(HEADER + PAYLOAD, 22)) + ".attacker.test"),
]


@pytest.mark.parametrize("name", [pytest.param(n, id=c) for c, n in JWT_NAMES])
def test_a_jwt_cut_into_labels_is_refused_and_masked(name: str) -> None:
    record = ask(name)
    assert (record.reason, record.decision, record.forwarded) == (
        "secret_detected", "block", False)
    logged = str(record.name)
    assert "[REDACTED:jwt]" in logged
    pieces = [*chunks(HEADER[3:], 8), *chunks(PAYLOAD[3:], 8), *chunks(SIGNATURE, 8),
              *chunks(ODD.replace(".", "")[3:], 8)]
    assert not [p for p in pieces if len(p) >= 6 and p in logged]


def test_the_jwt_detector_is_a_credential() -> None:
    assert DETECTOR in CREDENTIALS and DETECTORS_BY_ID[DETECTOR].kind.value == "secret"


def test_the_http_proxy_refuses_a_host_with_a_jwt_cut_into_labels() -> None:
    assert secret_in_host(JWT_NAMES[2][1], SCANNER) == "jwt"
    assert secret_in_host("api.github.com", SCANNER) is None


def test_glued_spans_end_where_the_payload_ends() -> None:
    glued = HEADER + PAYLOAD + SIGNATURE
    assert glued_jwt_spans("ab" + glued) == [(2, 2 + len(HEADER) + len(PAYLOAD))]
    assert glued_jwt_spans(HEADER + "eyJ" + "A" * 20) == []  # no payload object
    assert glued_jwt_spans(b64url({"typ": "JWT"}) + PAYLOAD) == []  # a header without alg
    # decoys enough to exhaust the starts examined: the rest counts as a token (fail closed)
    decoys = "eyJx" * (MAX_STARTS + 1)
    assert glued_jwt_spans(decoys) == [(4 * MAX_STARTS, len(decoys))]


# Near misses: honest names pass, and are logged as sent.
NEAR_MISSES = [
    "www.wild.example", "d1a2b3c4d5e6f7.cloudfront.net", "_acme-challenge.wild.example",
    "eu-west-1-prod.build-cache.wild.example", "xn--bcher-kva.wild.example",
    "4b825dc642cb.runner-7.ci.example", "a.b.c.d.e.f.g.h.i.j.k.l.wild.example",
    "eyj.wild.example", "WWW.WILD.EXAMPLE", "Www.Wild.Example",
    "Api-V2.Eu-West-1.wild.example",  # mixed case with digits, but short: not a run
]


@pytest.mark.parametrize("name", NEAR_MISSES)
def test_near_misses_pass_and_stay_readable(name: str) -> None:
    record = ask(name)
    assert record.reason == "resolution_failed"  # allowed: forwarded, to no upstream here
    assert record.name == name + "."


RNG = random.Random(11)
GHP = "".join(RNG.choice(string.ascii_letters + string.digits) for _ in range(36))
AWS_SECRET = fakes.aws_secret_access_key(RNG).replace("/", "Z").replace("+", "Y")
# No detector names these (the documented limit on short labels): logged masked all the same.
UNNAMED = [
    ("ghp-without-prefix", ".".join(chunks(GHP, 18)) + ".gh.wild.example", GHP),
    ("aws-secret-after-context",
     f"aws-secret-access-key.{AWS_SECRET[:20]}.{AWS_SECRET[20:]}.wild.example", AWS_SECRET),
    ("token-by-8", ".".join(chunks(GHP, 8)) + ".wild.example", GHP),
]


@pytest.mark.parametrize(("name", "value"), [pytest.param(n, v, id=c) for c, n, v in UNNAMED])
def test_mixed_case_base64_cut_into_labels_is_masked_in_the_log(name: str, value: str) -> None:
    logged = str(ask(name).name)
    assert "[payload:" in logged
    assert not [p for p in chunks(value, 6) if len(p) == 6 and p in logged]
    assert logged.endswith(".wild.example.")
    if "aws-secret" in name:
        assert logged.startswith("aws-secret-access-key.")  # the readable context stays
