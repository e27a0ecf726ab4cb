"""Peeling one request has a CPU budget: a megabyte of random base85 tokens cost seconds of
the event loop's time (every other request waited), so past the budget the request is refused
with `inspection_limit` rather than inspected to the end or forwarded unread."""

from __future__ import annotations

import asyncio
import base64
import random
from pathlib import Path

import pytest
from mitmproxy.test import tflow

from addons.inspection import Inspector
from addons.state import Gate
from proxy.audit.log import AuditLog
from proxy.inspection.cpu_budget import MAX_GROWTH, CpuBudget
from proxy.inspection.decode_errors import DecodeLimitExceeded
from proxy.inspection.engine import Text, inspect_texts
from proxy.inspection.layers import peel
from proxy.inspection.scanner import Scanner
from proxy.netsafety.resolver import Resolver
from proxy.policy import model
from proxy.policy.loader import RuleFileError, load_rules_text
from proxy.policy.model import InspectionPolicy

SCANNER = Scanner()
KEY = b"k" * 32


def _random_tokens(count: int, seed: int) -> str:
    rnd = random.Random(seed)
    return " ".join(base64.b85encode(rnd.randbytes(20)).decode() for _ in range(count))


def _texts(count: int) -> list[Text]:
    return [Text(f"body:$.t{i}", _random_tokens(50, i)) for i in range(count)]


def test_past_its_cpu_budget_peeling_stops_and_says_so() -> None:
    texts = _texts(20)
    assert not inspect_texts(texts, SCANNER, KEY, max_depth=3).limit_reached
    assert not inspect_texts(texts, SCANNER, KEY, max_depth=3,
                             cpu=CpuBudget.start(60, 1.0)).limit_reached
    assert inspect_texts(texts, SCANNER, KEY, max_depth=3,
                         cpu=CpuBudget.start(0.0, 0.0)).limit_reached


def test_the_budget_stops_inside_one_long_text_too() -> None:
    text = _random_tokens(2000, 7)
    assert len(list(peel(text, max_bytes=1 << 24, cpu=CpuBudget.start(600, 1.0)))) >= 1
    with pytest.raises(DecodeLimitExceeded):
        list(peel(text, max_bytes=1 << 24, cpu=CpuBudget.start(0.0, 0.0)))


def test_decoded_text_earns_time_up_to_a_ceiling() -> None:
    """A base64 .tgz in a JSON body is a megabyte that decompresses to several: peeling those
    is honest work and earns its worth, but never past MAX_GROWTH times the start."""
    budget = CpuBudget.start(1.0, 2.0)
    first = budget.deadline
    budget.earn(1 << 19)  # half a MiB at 2 s per MiB
    assert budget.deadline == pytest.approx(first + 1.0)
    budget.earn(100 << 20)
    assert budget.deadline == pytest.approx(budget.ceiling)
    assert budget.ceiling == pytest.approx(first + (MAX_GROWTH - 1) * 1.0)
    # peeling earns what each variant it finds is worth
    text = base64.b64encode(("words of a long honest text " * 4000).encode()).decode()
    earning = CpuBudget.start(600.0, 60.0)
    before = earning.deadline
    list(peel(text, max_bytes=1 << 24, cpu=earning))
    assert earning.deadline > before


@pytest.mark.parametrize(("per_mib", "characters", "expected"), [
    (1.0, 4096, model.MIN_CPU_SECONDS),  # a small request gets the floor
    (1.0, 8 << 20, 8.0),
    (0.5, 10 << 20, 5.0),
    (2.0, 1 << 19, model.MIN_CPU_SECONDS),
])
def test_the_budget_grows_with_the_request(per_mib: float, characters: int,
                                           expected: float) -> None:
    assert InspectionPolicy(cpu_seconds_per_mib=per_mib).cpu_seconds(characters) == expected


def test_the_rule_file_sets_the_budget_and_refuses_nonsense() -> None:
    rules = "version: 1\ninspection:\n  cpu_seconds_per_mib: {value}\ndestinations: []\n"
    policy = load_rules_text(rules.format(value=2.5), "t.yaml")
    assert policy.inspection.cpu_seconds_per_mib == 2.5
    assert load_rules_text("version: 1\ndestinations: []\n", "t.yaml").inspection \
        .cpu_seconds_per_mib == model.DEFAULT_CPU_SECONDS_PER_MIB
    for bad in ("0", "0.01", "1000", "fast"):
        with pytest.raises(RuleFileError, match="cpu_seconds_per_mib"):
            load_rules_text(rules.format(value=bad), "t.yaml")


def test_a_request_over_its_budget_is_refused_with_inspection_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model, "MIN_CPU_SECONDS", 0.0)  # no floor: the smallest budget
    policy = load_rules_text(
        "version: 1\ninspection:\n  cpu_seconds_per_mib: 0.1\n"
        "destinations:\n  - host: example.com\n", "t.yaml")
    gate = Gate(policy=policy, resolver=Resolver(policy.network.hosts),
                audit=AuditLog(tmp_path / "audit.log"), scanner=SCANNER, finding_key=KEY)
    flow = tflow.tflow()
    flow.request.content = _random_tokens(3000, 11).encode()
    flow.request.headers["content-type"] = "text/plain"
    asyncio.run(Inspector(gate).request(flow))
    assert flow.response is not None and flow.response.status_code == 403
    assert flow.response.headers["X-Glassbreak-Reason"] == "inspection_limit"
    # and the same request within a budget is not refused for it
    clean = tflow.tflow()
    clean.request.content = flow.request.content
    clean.request.headers["content-type"] = "text/plain"
    monkeypatch.setattr(model, "MIN_CPU_SECONDS", 600.0)
    asyncio.run(Inspector(gate).request(clean))
    assert clean.response is None or clean.response.headers.get(
        "X-Glassbreak-Reason") != "inspection_limit"
