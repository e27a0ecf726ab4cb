"""Every place an HTTP request can carry data, as texts to inspect, each with its location.

URL path (and the whole target when it holds a "#"), its segments joined, an uncommon method,
every query key and value, every header and trailer name and value, short query, header and
cookie values joined (a key split over several of them), and the body's fields (after
Content-Encoding is undone).
Locations never echo a name that could itself be a secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from urllib.parse import unquote

from mitmproxy import http

from proxy.inspection.decoders import body_fields, decode_content_encoding, name_segment
from proxy.inspection.engine import Text
from proxy.inspection.fields import (
    Field,
    joined_field,
    joined_key_windows,
    joined_neighbours,
    joined_suffixes,
)

PATH = "url.path"
PATH_JOINED = "url.path:*"  # the path's segments joined from each one on: see engine.is_joined
# What cuts a path into pieces for those joins: segments, and what separates words in them
_PATH_SEPARATORS = re.compile(r"[/;.,]+")
TARGET = "url.target"  # the whole request-target, when it holds a fragment
METHOD = "method"
COMMON_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS",
                            "TRACE", "PATCH", "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE",
                            "LOCK", "UNLOCK", "REPORT", "SEARCH", "QUERY"})
QUERY_JOINED = "query:*"  # short values joined: see engine.is_joined
HEADERS_JOINED = "header:*"  # short header (and trailer) values joined
COOKIES_JOINED = "cookie:*"  # short cookie values joined

# A hundred texts a request: made as tuples, without Text's Python-level __new__ (twice the
# cost). A body Field is a Text (engine.Text is fields.Field).
_new = tuple.__new__


def _query(request: http.Request) -> Iterable[tuple[str, str]]:
    """`request.query` as (name, value) pairs. mitmproxy finds them with urlparse(request.url),
    which finds none without a "?" and fails only on brackets or non-ASCII characters in the
    host: other URLs are not parsed (most requests have no query)."""
    url = request.url
    if "?" in url or "[" in url or "]" in url or not url.isascii():
        return request.query.items(multi=True)  # type: ignore[no-any-return]
    return ()


def url_and_header_texts(request: http.Request) -> Iterator[Text]:
    yield from _url_texts(request)
    yield from _header_texts(request)


def _url_texts(request: http.Request) -> Iterator[Text]:
    target = request.path
    path, _, _ = target.partition("?")
    yield _new(Text, (PATH, path, True))
    # A key cut into path segments (`/u/ghp_R/8xkq2/...`, `%2F` or `;` or `.` between the
    # pieces): the pieces joined from each one to the end, peeled (base64 cut so); and from
    # where they start like a key, to each later piece, scanned only (a key with segments
    # after it).
    pieces = _PATH_SEPARATORS.split(unquote(path, errors="replace"))
    if len(pieces) >= 3:
        yield from _as_texts(joined_suffixes(PATH_JOINED, pieces), peel=True)
        yield from _as_texts(joined_key_windows(PATH_JOINED, pieces), peel=False)
    # HTTP allows any token as a method, and the receiver logs it: one not in the registry
    # of common methods is scanned too.
    if request.method not in COMMON_METHODS:
        # As sent: mitmproxy's `method` is upper-cased, and what goes upstream is not.
        yield _new(Text, (METHOD, request.data.method.decode("utf-8", "surrogateescape"), True))
    # Name and value together: the name is the context some detectors need ("api_key=...",
    # "Authorization: Bearer ..."), and either half may be the secret.
    values: list[str] = []
    for index, (name, value) in enumerate(_query(request)):
        yield _new(Text, (f"query:{name_segment(name, index)}", f"{name}={value}", True))
        values.append(value)
    yield from _joins(QUERY_JOINED, values, peel=True)  # a key split over `a=...&b=...`
    # The whole request-target as sent: mitmproxy's query view drops what follows a "#", and
    # the receiver may read it anyway.
    if "#" in target:
        yield _new(Text, (TARGET, target, True))


def _header_texts(request: http.Request) -> Iterator[Text]:
    header_values: list[str] = []
    header_names: list[str] = []
    cookie_values: list[str] = []
    for index, (name, value) in enumerate(request.headers.items(multi=True)):
        yield _new(Text, (f"header:{name_segment(name.lower(), index)}", f"{name}: {value}", True))
        header_values.append(value)
        if name.lower() not in _COMMON_HEADERS:
            # without the `X-` that custom names start with: `X-ghp_qeTi…`, `X-q4dJ…`
            header_names.append(name[2:] if name[:2].lower() == "x-" else name)
        if name.lower() == "cookie":
            cookie_values += [part.partition("=")[2].strip() for part in value.split(";")]
    # HTTP/2 (and chunked HTTP/1) trailers are forwarded after the body: headers all the same.
    if request.trailers is not None:
        for index, (name, value) in enumerate(request.trailers.items(multi=True)):
            location = f"trailer:{name_segment(name.lower(), index)}"
            yield _new(Text, (location, f"{name}: {value}", True))
            header_values.append(value)
    # Scanned and not peeled: every request has a dozen short headers (host, user agent,
    # content type) whose glued runs would all be decoded for nothing.
    yield from _joins(HEADERS_JOINED, header_values, peel=False)  # `X-A: ...`, `X-B: ...`
    yield from _joins(HEADERS_JOINED, header_names, peel=False)  # a key cut over the names
    yield from _joins(COOKIES_JOINED, cookie_values, peel=False)  # `a=...; b=...`


# Names every client sends: not where a key is cut, and joining them costs a text a request
_COMMON_HEADERS = frozenset({
    "host", "user-agent", "accept", "accept-encoding", "accept-language", "content-type",
    "content-length", "connection", "authorization", "cookie", "origin", "referer",
    "cache-control", "pragma", "te", "transfer-encoding", "upgrade", "keep-alive",
    "if-none-match", "if-modified-since", "range", "expect", "dnt", "priority",
})


def _joins(location: str, values: list[str], *, peel: bool) -> Iterator[Text]:
    """Short values of one place joined in order, all of them and each two and three
    neighbours: a key split over query parameters, headers or cookies."""
    if len(values) < 2:  # fewer make no join
        return
    yield from _as_texts(joined_field(location, values), peel=peel)
    yield from _as_texts(joined_neighbours(location, values), peel=peel)


def _as_texts(fields: Iterable[Field], *, peel: bool) -> Iterator[Text]:
    """The joined fields as texts to scan, peeled or not."""
    for field in fields:
        yield _new(Text, (field.location, field.text, peel))


def body_texts(request: http.Request, *, limit: int) -> Iterator[Text]:
    """Raises DecodeLimitExceeded / UndecodableBody (when called, or for a multipart body
    while iterating): the caller blocks, never forwards."""
    raw = request.raw_content or b""
    if not raw:
        return iter(())
    decoded = decode_content_encoding(raw, request.headers.get("content-encoding"), limit=limit)
    return body_fields(decoded, request.headers.get("content-type"), limit=limit)


def request_texts(request: http.Request, *, limit: int) -> list[Text]:
    """Every text of a request to inspect: URL, headers, then the body's (as body_texts)."""
    return [*url_and_header_texts(request), *body_texts(request, limit=limit)]


def decoded_body(request: http.Request, *, limit: int) -> bytes:
    raw = request.raw_content or b""
    return decode_content_encoding(raw, request.headers.get("content-encoding"), limit=limit)
