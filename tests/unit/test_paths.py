"""Path forms: what a rule's path prefix is compared with, and the bypasses it must not allow."""

from __future__ import annotations

import pytest

from proxy.policy.paths import aggressive_path, canonical_path, has_path_prefix

CANONICAL = {
    "plain": ("/v1/messages", "/v1/messages"),
    "query dropped": ("/v1/messages?x=1", "/v1/messages"),
    "trailing slash kept": ("/v1/", "/v1/"),
    "dot segment": ("/v1/./messages", "/v1/messages"),
    "dot dot escapes prefix": ("/v1/messages/../../admin", "/admin"),
    "dot dot at root": ("/../../etc/passwd", "/etc/passwd"),
    "double slash": ("//admin", "/admin"),
    "encoded unreserved": ("/%61dmin", "/admin"),
    "encoded dot dot": ("/v1/%2e%2e/admin", "/admin"),
    "encoded dot dot upper": ("/v1/%2E%2E/admin", "/admin"),
    "encoded slash kept encoded": ("/a%2fb", "/a%2Fb"),
    "empty": ("", "/"),
    "trailing dot dot": ("/a/b/..", "/a/"),
}


@pytest.mark.parametrize(("raw", "want"), CANONICAL.values(), ids=CANONICAL.keys())
def test_canonical_path(raw: str, want: str) -> None:
    assert canonical_path(raw) == want


AGGRESSIVE = {
    "case folded": ("/ADMIN", "/admin"),
    "encoded slash decoded": ("/%2Fadmin", "/admin"),
    "double encoded dots": ("/x/%252e%252e/admin", "/admin"),
    "backslash": ("/x\\..\\admin", "/admin"),
    "tomcat params": ("/ok/..;/admin", "/admin"),
    "params on a segment": ("/admin;jsessionid=1/x", "/admin/x"),
}


@pytest.mark.parametrize(("raw", "want"), AGGRESSIVE.values(), ids=AGGRESSIVE.keys())
def test_aggressive_path(raw: str, want: str) -> None:
    assert aggressive_path(raw) == want


@pytest.mark.parametrize(
    ("path", "prefix", "matches"),
    [
        ("/v1/messages", "/v1/messages", True),
        ("/v1/messages/batch", "/v1/messages", True),
        ("/v1/messagesX", "/v1/messages", False),
        ("/v1/messages", "/v1/messages/", False),
        ("/v1/messages/", "/v1/messages/", True),
        ("/v2/messages", "/v1/", False),
    ],
)
def test_has_path_prefix(path: str, prefix: str, matches: bool) -> None:
    assert has_path_prefix(path, prefix) is matches
