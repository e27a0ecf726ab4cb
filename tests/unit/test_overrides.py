"""Method and URL overrides as a table: what each header or parameter makes a server run."""

from __future__ import annotations

import pytest

from proxy.policy.overrides import (
    may_name_method_parameter,
    override_methods,
    override_paths,
)

Fields = list[tuple[bytes, bytes]]

METHODS: dict[str, tuple[Fields, list[tuple[str, str]], tuple[str, ...]]] = {
    "x-http-method-override": ([(b"X-HTTP-Method-Override", b"DELETE")], [], ("DELETE",)),
    "x-http-method, lower case value": ([(b"x-http-method", b"put")], [], ("PUT",)),
    "x-method-override, spaces": ([(b"X-Method-Override", b"  patch ")], [], ("PATCH",)),
    "a list counts as each item": ([(b"X-HTTP-Method-Override", b"GET, DELETE")], [],
                                   ("GET", "DELETE")),
    "repeated headers, each once": ([(b"X-HTTP-Method-Override", b"PUT"),
                                     (b"X-HTTP-Method", b"put")], [], ("PUT",)),
    "_method parameter": ([], [("_method", "delete")], ("DELETE",)),
    "header and parameter": ([(b"X-HTTP-Method-Override", b"PUT")], [("_method", "DELETE")],
                             ("PUT", "DELETE")),
    # near misses: no override stated
    "empty value": ([(b"X-HTTP-Method-Override", b"")], [], ()),
    "other header": ([(b"X-Http-Method-Overrides", b"DELETE"), (b"Method", b"DELETE")], [], ()),
    "other parameter": ([], [("method", "DELETE"), ("_methods", "PUT")], ()),
    "no override": ([(b"Content-Type", b"application/json")], [("q", "x")], ()),
}


@pytest.mark.parametrize(("fields", "parameters", "expected"), METHODS.values(),
                         ids=METHODS.keys())
def test_override_methods(fields: Fields, parameters: list[tuple[str, str]],
                          expected: tuple[str, ...]) -> None:
    assert override_methods(fields, parameters) == expected


PATHS: dict[str, tuple[Fields, tuple[str, ...]]] = {
    "x-original-url": ([(b"X-Original-URL", b"/admin/users")], ("/admin/users",)),
    "x-rewrite-url with a query": ([(b"X-Rewrite-URL", b"/admin?x=1")], ("/admin?x=1",)),
    "absolute url": ([(b"X-Original-URL", b"http://internal.test/admin")], ("/admin",)),
    "scheme-relative url": ([(b"X-Original-URL", b"//internal.test/admin")], ("/admin",)),
    "authority only": ([(b"X-Original-URL", b"https://internal.test")], ("/",)),
    "relative path kept as sent": ([(b"x-original-url", b"admin")], ("admin",)),
    "both headers": ([(b"X-Original-URL", b"/a"), (b"X-Rewrite-URL", b"/b")], ("/a", "/b")),
    # near misses
    "empty": ([(b"X-Original-URL", b" ")], ()),
    "other header": ([(b"X-Forwarded-For", b"/admin"), (b"Referer", b"https://x.test/admin")],
                     ()),
}


@pytest.mark.parametrize(("fields", "expected"), PATHS.values(), ids=PATHS.keys())
def test_override_paths(fields: Fields, expected: tuple[str, ...]) -> None:
    assert override_paths(fields) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    (b"_method=DELETE", True), (b"a=1&_METHOD=put", True), (b"%5Fmethod=put", True),
    (b"%5fmethod=put", True), (b"method=put", False), (b"a=1&b=2", False), (b"", False),
])
def test_may_name_method_parameter(raw: bytes, expected: bool) -> None:
    assert may_name_method_parameter(raw) is expected
