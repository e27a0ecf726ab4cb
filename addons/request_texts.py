"""Every place an HTTP request can carry data, as texts to inspect, each with its location.

URL path, every query key and value, every header name and value, and the body's fields (after
Content-Encoding is undone). Locations never echo a name that could itself be a secret.
"""

from __future__ import annotations

from collections.abc import Iterator

from mitmproxy import http

from proxy.inspection.decoders import body_fields, decode_content_encoding, name_segment
from proxy.inspection.engine import Text

PATH = "url.path"


def url_and_header_texts(request: http.Request) -> Iterator[Text]:
    path, _, _ = request.path.partition("?")
    yield Text(PATH, path)
    # Name and value together: the name is the context some detectors need ("api_key=...",
    # "Authorization: Bearer ..."), and either half may be the secret.
    for index, (name, value) in enumerate(request.query.items(multi=True)):
        yield Text(f"query:{name_segment(name, index)}", f"{name}={value}")
    for index, (name, value) in enumerate(request.headers.items(multi=True)):
        yield Text(f"header:{name_segment(name.lower(), index)}", f"{name}: {value}")


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
