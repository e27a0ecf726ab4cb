"""The fields of an audit line that a sender writes are cleaned of secrets before it is sealed."""

from __future__ import annotations

import pytest

from proxy.audit.record import AuditRecord
from proxy.audit.redact_record import redact_record
from proxy.inspection.engine import scrub
from proxy.inspection.scanner import Scanner

KEY = "AKIAQ3FXN7TRZ4LWPK2B"
SCANNER = Scanner()


def _record(**fields: object) -> AuditRecord:
    base: dict[str, object] = {
        "request_id": "r", "kind": "http", "stage": "request", "client": "c",
        "host": "allowed.test", "port": 443, "decision": "block", "reason": "secret_detected",
        "rule": "r1", "method": "GET", "path": "/ok", "headers": {"user-agent": "tool/1"}}
    return AuditRecord(**{**base, **fields})  # type: ignore[arg-type]


def _clean(record: AuditRecord) -> AuditRecord:
    redact_record(record, lambda text: scrub(text, SCANNER))
    return record


def _finding(location: str) -> dict[str, object]:
    return {"detector": "aws_access_key", "location": location}


def test_plain_values_are_scrubbed_in_every_sender_field() -> None:
    # (A host with a key in any case is refused, masked, before it gets here: host_secrets.py.)
    record = _clean(_record(host=f"{KEY}.x.test", path=f"/k/{KEY}", method=KEY,
                            headers={"user-agent": f"tool {KEY}", "accept": "*/*"}))
    assert KEY not in record.to_line(0.0)
    assert record.headers["accept"] == "*/*"


@pytest.mark.parametrize(("location", "field", "expected"), [
    ("url.path", "path", "[REDACTED:aws_access_key]"),
    ("url.target", "path", "[REDACTED:aws_access_key]"),
    ("url.path:*", "path", "[REDACTED:aws_access_key]"),  # a key cut into path segments
    ("method", "method", "[REDACTED:aws_access_key]"),
    ("header:user-agent", "headers", {"user-agent": "[REDACTED:aws_access_key]",
                                      "accept": "*/*"}),
    ("header:*", "headers", {"user-agent": "[REDACTED:aws_access_key]",
                             "accept": "[REDACTED:aws_access_key]"}),
    ("header:x-debug", "headers", {"user-agent": "dG9vbA==", "accept": "*/*"}),  # not logged
    ("body:$.k", "path", "/p/QUtJQQ"),  # a body finding leaves the URL alone
])
def test_a_field_with_a_finding_in_any_layer_is_replaced_whole(location: str, field: str,
                                                                expected: object) -> None:
    record = _clean(_record(path="/p/QUtJQQ", method="PATCH",
                            headers={"user-agent": "dG9vbA==", "accept": "*/*"},
                            findings=[_finding(location)]))
    assert getattr(record, field) == expected


@pytest.mark.parametrize("location", ["query:QUtJQQ", "query:*", "query:k"])
def test_a_query_finding_drops_the_query_names(location: str) -> None:
    """The line keeps a query's names, not its values: but a name can be the secret, encoded
    (`?<base64url of a key>=1`) or cut at 64 characters where the scrub no longer sees it."""
    record = _clean(_record(path="/p?QUtJQQ=&k=", findings=[_finding(location)]))
    assert record.path == "/p?[REDACTED:aws_access_key]"


def test_a_query_finding_leaves_a_path_without_a_query_alone() -> None:
    record = _clean(_record(path="/p/x", findings=[_finding("query:k")]))
    assert record.path == "/p/x"
