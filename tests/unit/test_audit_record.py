"""The audit line keeps the path and query keys, never query values."""

from __future__ import annotations

import json

import pytest

from proxy.audit.record import AuditRecord, path_without_query_values


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        ("/", "/"),
        ("/search?q=secret&page=2", "/search?q=&page="),
        ("/x?token=abc#frag", "/x?token="),
        ("//admin?k=v", "//admin?k="),
        ("/p?flag", "/p?flag="),
        ("/p?a=1&a=2", "/p?a=&a="),
    ],
)
def test_path_without_query_values(target: str, logged: str) -> None:
    assert path_without_query_values(target) == logged


def test_line_is_one_json_object_with_the_documented_fields() -> None:
    record = AuditRecord(request_id="r1", kind="http", stage="request", client="127.0.0.1:5",
                         host="example.com", port=443, decision="allow", reason="allowed",
                         rule="r", started=100.0)
    line = record.to_line(100.25)
    assert "\n" not in line
    fields = json.loads(line)
    assert fields["duration_ms"] == 250.0
    assert set(fields) == {
        "time", "request_id", "kind", "stage", "client", "method", "scheme", "host", "port",
        "path", "decision", "reason", "rule", "status", "bytes_up", "bytes_down", "duration_ms",
        "headers", "findings",
    }
