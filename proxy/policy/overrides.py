"""Where a request names another method or path than its request line, for servers that obey.

Rack::MethodOverride, Laravel, Symfony, Express's `method-override` and Google's APIs run an
allowed `POST` as the `DELETE`, `PUT` or `PATCH` that an `X-HTTP-Method-Override` header, an
`X-HTTP-Method` or `X-Method-Override` header, or a `_method` parameter (query or form body)
names; IIS URL Rewrite and old Symfony route by `X-Original-URL` or `X-Rewrite-URL`. An entry's
`methods` and `paths` hold only if they hold for each of these too (red team, ssrf2): an allow
entry must allow every method and path a request states, and a deny entry holds if it names any.
The request line stays what the proxy matches first; these only add readings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

METHOD_HEADERS = frozenset({b"x-http-method-override", b"x-http-method", b"x-method-override"})
URL_HEADERS = frozenset({b"x-original-url", b"x-rewrite-url"})
METHOD_PARAMETER = "_method"
# What a cheap look at a query or body must find before it is parsed for METHOD_PARAMETER: the
# name as sent, or with its underscore escaped (a server decodes names before it reads them).
_MAY_NAME_PARAMETER = re.compile(rb"_method|%5fmethod", re.IGNORECASE)
# "http://host/x" and "//host/x" name a path after their authority.
_AUTHORITY = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*:)?//[^/?#]*")


def may_name_method_parameter(raw: bytes) -> bool:
    """Whether a raw query or body may hold a `_method` parameter (then it is parsed)."""
    return _MAY_NAME_PARAMETER.search(raw) is not None


def override_methods(fields: Iterable[tuple[bytes, bytes]],
                     parameters: Iterable[tuple[str, str]] = ()) -> tuple[str, ...]:
    """The methods the method-override headers among `fields` and the `_method` entries among
    `parameters` (query or form) name, upper case, in order, each once. A list (`GET, DELETE`)
    counts as each of its items: servers differ on which one they take."""
    values = [value.decode("latin-1") for name, value in fields
              if name.lower() in METHOD_HEADERS]
    values.extend(value for name, value in parameters if name == METHOD_PARAMETER)
    return _distinct(item.strip().upper() for value in values for item in value.split(","))


def override_paths(fields: Iterable[tuple[bytes, bytes]]) -> tuple[str, ...]:
    """The paths the URL-override headers among `fields` name, as paths (an absolute URL's path;
    decide reads each the ways a server might, as it does the request's own)."""
    return _distinct(_path_of(value.decode("latin-1").strip()) for name, value in fields
                     if name.lower() in URL_HEADERS)


def _path_of(value: str) -> str:
    authority = _AUTHORITY.match(value)
    return (value[authority.end():] or "/") if authority else value


def _distinct(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(item for item in dict.fromkeys(items) if item)
