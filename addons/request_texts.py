"""Every place an HTTP request can carry data, as texts to inspect, each with its location.

URL path, every query key and value, every header name and value, and the body's fields (after
Content-Encoding is undone). Locations never echo a name that could itself be a secret.
"""

from __future__ import annotations

from collections.abc import Iterator

from mitmproxy import http

from proxy.inspection.body_fields import joined_field, joined_neighbours
from proxy.inspection.decoders import body_fields, decode_content_encoding, name_segment
from proxy.inspection.engine import Text

PATH = "url.path"
TARGET = "url.target"  # the whole request-target, when it holds a fragment


def url_and_header_texts(request: http.Request) -> Iterator[Text]:
    path, _, _ = request.path.partition("?")
    yield Text(PATH, path)
    # Name and value together: the name is the context some detectors need ("api_key=...",
    # "Authorization: Bearer ..."), and either half may be the secret.
    values: list[str] = []
    for index, (name, value) in enumerate(request.query.items(multi=True)):
        yield Text(f"query:{name_segment(name, index)}", f"{name}={value}")
        values.append(value)
    # Short values of several parameters joined in order: a key split over `a=...&b=...`.
    for field in (*joined_field("query:*", values), *joined_neighbours("query:*", values)):
        yield Text(field.location, field.text)
    # The whole request-target as sent: mitmproxy's query view drops what follows a "#", and
    # the receiver may read it anyway.
    if "#" in request.path:
        yield Text(TARGET, request.path)
    for index, (name, value) in enumerate(request.headers.items(multi=True)):
        yield Text(f"header:{name_segment(name.lower(), index)}", f"{name}: {value}")
    # HTTP/2 (and chunked HTTP/1) trailers are forwarded after the body: headers all the same.
    if request.trailers is not None:
        for index, (name, value) in enumerate(request.trailers.items(multi=True)):
            yield Text(f"trailer:{name_segment(name.lower(), index)}", f"{name}: {value}")


def body_texts(request: http.Request, *, limit: int) -> Iterator[Text]:
    """Raises DecodeLimitExceeded / UndecodableBody: the caller blocks, never forwards."""
    raw = request.raw_content or b""
    if not raw:
        return
    decoded = decode_content_encoding(raw, request.headers.get("content-encoding"), limit=limit)
    for field in body_fields(decoded, request.headers.get("content-type"), limit=limit):
        yield Text(field.location, field.text, field.peel)


def decoded_body(request: http.Request, *, limit: int) -> bytes:
    raw = request.raw_content or b""
    return decode_content_encoding(raw, request.headers.get("content-encoding"), limit=limit)
