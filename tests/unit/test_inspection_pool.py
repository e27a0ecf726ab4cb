"""The inspection pool: a worker process finds exactly what the event loop finds, reports the
texts it found clean for the proxy's cache, fails closed past its deadline, and is replaced."""

from __future__ import annotations

import asyncio
import base64
import gzip
import random
from collections.abc import Iterator

import pytest

from addons.inspection import _left_to_inspect
from proxy.inspection.clean_texts import CleanTexts
from proxy.inspection.engine import Text, inspect_texts
from proxy.inspection.scanner import Scanner
from proxy.runtime.inspection_pool import InspectionPool, OffloadTimeout
from proxy.runtime.inspection_worker import WorkerSettings
from tests.corpus import fakes

RNG = random.Random(20261122)
KEY = b"q" * 32
SETTINGS = WorkerSettings(finding_key=KEY, max_depth=3, cpu_seconds_per_mib=4.0)
GITHUB = fakes.github_token(RNG, "ghp_")
AWS = fakes.aws_access_key_id(RNG)


def _tokens(count: int, seed: int) -> str:
    rnd = random.Random(seed)
    return " ".join(base64.b85encode(rnd.randbytes(20)).decode() for _ in range(count))


TEXTS = [
    Text("body:$.a", f"token {GITHUB} here"),
    Text("body:$.b", "a sentence with nothing in it, twice over"),
    Text("body:$.c", base64.b64encode(gzip.compress(f"aws {AWS}".encode())).decode()),
    Text("header:x-n", "12345"),
    Text("body:$.d", _tokens(200, 1)),
    Text("url.path", "/v1/" + base64.urlsafe_b64encode(GITHUB.encode()).decode()),
    Text("body:$.e", "plain words again", peel=False),
]


@pytest.fixture(scope="module")
def pool() -> Iterator[InspectionPool]:
    started = InspectionPool(1, SETTINGS)
    started.start()
    yield started
    started.close()


def test_a_worker_finds_what_the_event_loop_finds(pool: InspectionPool) -> None:
    inline_cache = CleanTexts()
    inline = inspect_texts(TEXTS, Scanner(), KEY, max_depth=3, clean=inline_cache)
    result = asyncio.run(pool.inspect(TEXTS, deadline=120))
    assert result.inspection == inline
    assert {hit.finding.detector for hit in inline.hits} >= {"github_token", "aws_access_key"}
    # the texts it reports clean are those the inline run put in its cache
    assert result.clean == tuple(
        position for position, text in enumerate(TEXTS)
        if inline_cache.digest(text.text, peel=text.peel) in inline_cache)
    assert set(result.clean) == {1, 3, 4, 6}


def test_a_job_past_its_deadline_is_refused_and_its_worker_replaced(
        pool: InspectionPool) -> None:
    asyncio.run(pool.inspect(TEXTS[:1], deadline=120))  # warm: the worker is up
    before = pool.restarts
    with pytest.raises(OffloadTimeout):
        asyncio.run(pool.inspect([Text("body", _tokens(40_000, 2))], deadline=0.3))
    assert pool.restarts == before + 1
    # the new worker serves the next job
    again = asyncio.run(pool.inspect(TEXTS[:1], deadline=120))
    assert [hit.finding.detector for hit in again.inspection.hits] == ["github_token"]


def test_a_pool_needs_a_worker() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        InspectionPool(0, SETTINGS)


@pytest.mark.parametrize("max_entries", [0, 16])
def test_only_texts_the_cache_does_not_know_are_sent(max_entries: int) -> None:
    cache = CleanTexts(max_entries)
    known = Text("body:$.a", "known clean")
    cache.add(cache.digest(known.text, peel=known.peel))
    fresh = Text("body:$.b", "not seen")
    left = _left_to_inspect([known, fresh], cache)
    if max_entries:
        assert left == [(fresh, cache.digest(fresh.text, peel=True))]
    else:  # a cache that keeps nothing knows nothing
        assert [text for text, _ in left] == [known, fresh]
    assert [text for text, _ in _left_to_inspect([known, fresh], None)] == [known, fresh]
