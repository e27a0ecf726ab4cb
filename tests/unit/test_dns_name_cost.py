"""Red team dns2, finding 3: costly names (many short hyphenated labels, each scanned for secrets
in runs) are charged to the client's rate bucket by their cost, so one client within its rate
cannot take the event loop; and the batched secret search finds what a search per text finds."""

from __future__ import annotations

import random
import string

import dns.message

from proxy.dns.limits import ClientBuckets
from proxy.dns.secrets_in_names import scanned_characters
from proxy.dns.service import DnsService
from proxy.inspection.engine import found_values, found_values_many
from proxy.inspection.scanner import Scanner
from proxy.policy.loader import load_rules_text
from proxy.runtime.dns_process import CREDENTIALS, name_scrubber, name_secret_finder
from tests.corpus import fakes

SCANNER = Scanner()
POLICY = load_rules_text("""\
version: 1
network:
  hosts:
    ordinary.wild.example: [192.0.2.1]
dns:
  client_qps: 10
  client_burst: 40
destinations:
  - hosts: ["*.wild.example"]
""", "<test>")


def crafted(rng: random.Random) -> str:
    """The red team's costly name: 29 labels of 7 key-like characters with a hyphen."""
    alphabet = "ghp_AKIAeyJ0123456789"
    labels = []
    for _ in range(29):
        label = "".join(rng.choice(alphabet) for _ in range(7))
        labels.append(label[:3] + "-" + label[4:])
    return ".".join(labels) + ".a1.attacker.test"


def answered(names: list[str]) -> int:
    """Questions of one client answered (not dropped) at one instant: the burst only."""
    svc = DnsService(POLICY, None, clock=lambda: 100.0, scrub=name_scrubber(SCANNER),
                     find_secrets=name_secret_finder(SCANNER), credentials=CREDENTIALS)
    wires = [dns.message.make_query(name, "A").to_wire() for name in names]
    return sum(svc.handle(wire, "10.0.0.1", "udp", lambda _: None) for wire in wires)


def test_costly_names_spend_the_burst_faster_than_ordinary_ones() -> None:
    rng = random.Random(5)
    ordinary = [f"n{i}.wild.example" for i in range(40)]
    costly = [crafted(rng) for _ in range(40)]
    assert answered(ordinary) == 40  # one token each: the whole burst
    charged = answered(costly)
    # each costs its token plus about 6 (13,000 characters scanned, 32 labels)
    assert 4 <= charged <= 8


def test_repeated_names_are_charged_once() -> None:
    name = crafted(random.Random(6))
    assert answered([name] * 40) >= 30  # computed once, then remembered


def test_a_charge_is_a_debt_that_refills() -> None:
    clock = [0.0]
    buckets = ClientBuckets(rate=10, burst=20, clock=lambda: clock[0])
    assert buckets.take("c")
    buckets.charge("c", 1000)  # never below -burst
    assert not buckets.take("c")
    clock[0] += 4.0  # 40 tokens: the debt of 20, then 20 again
    assert buckets.take("c")
    buckets.charge("unknown", 5)  # a client without a bucket: nothing to charge


def test_the_cost_of_a_name_grows_with_its_runs_not_its_repeats() -> None:
    assert scanned_characters((b"www", b"wild", b"example")) < 64
    assert scanned_characters(tuple(crafted(random.Random(7)).encode().split(b"."))) > 10_000


def test_the_batched_search_finds_what_a_search_per_text_finds() -> None:
    rng = random.Random(8)
    texts = [fakes.aws_access_key_id(rng).lower(), fakes.github_token(rng, "ghp_"), "www",
             "eu-west-1", fakes.jwt(rng), "", "x" * 300, fakes.slack_bot_token(rng) + "tail"]
    texts += ["".join(rng.choice(string.ascii_letters + string.digits + "-_") for _ in
                      range(rng.randrange(1, 90))) for _ in range(60)]
    for any_case in (False, True):
        batched = found_values_many(texts, SCANNER, any_case=any_case)
        alone = [found_values(text, SCANNER, any_case=any_case) for text in texts]
        assert [[(m.start, m.end, m.detector) for m in found] for found in batched] == [
            [(m.start, m.end, m.detector) for m in found] for found in alone]
