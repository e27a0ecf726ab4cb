"""RES_OPTIONS as the proxy leaves it: a dotted name is asked as written before any search
domain (the end-to-end proof, with a searching resolv.conf, is in test_netns_e2e.py)."""

from __future__ import annotations

import pytest

from proxy.netsafety.resolver import RESOLVER_OPTIONS_ENV, absolute_names_first


@pytest.mark.parametrize(("before", "after"), [
    (None, "ndots:1"),
    ("", "ndots:1"),
    ("attempts:2 rotate", "attempts:2 rotate ndots:1"),
    ("ndots:5", "ndots:5 ndots:1"),  # glibc reads options in order: the last one counts
    ("ndots:10", "ndots:10 ndots:1"),
    ("ndots:1", "ndots:1"),
    ("rotate ndots:0", "rotate ndots:0"),  # already asks every name as written first
])
def test_absolute_names_first(before: str | None, after: str) -> None:
    environ = {} if before is None else {RESOLVER_OPTIONS_ENV: before}
    absolute_names_first(environ)
    assert environ[RESOLVER_OPTIONS_ENV] == after
