"""Replace found values in a request with placeholders, keeping it well-formed.

Only a value that stands verbatim where it was found can be replaced; one that was found inside a
decoded layer (base64, gzip...) or in an escaped form cannot be cut out exactly, and the request
is blocked instead (`RedactionImpossible`). mitmproxy re-applies the Content-Encoding and fixes
Content-Length when the body is set.
"""

from __future__ import annotations

from collections.abc import Sequence

from mitmproxy import http

from proxy.inspection.engine import REDACTED, Hit


class RedactionImpossible(Exception):
    """A value cannot be replaced exactly where it was found."""


def placeholder(detector: str) -> str:
    return REDACTED.format(detector=detector)


def redact_request(request: http.Request, hits: Sequence[Hit], decoded_body: bytes | None
                   ) -> None:
    """Apply every replacement, or raise RedactionImpossible and change nothing."""
    if any(hit.finding.layers for hit in hits):
        raise RedactionImpossible("a value was found inside an encoded layer")
    path = request.path
    headers = list(request.headers.fields)
    body = decoded_body
    replaced: list[str] = []
    # Longest first: detectors can report a value inside another (a PEM key inside a service
    # account file); once the outer one is gone, so is the inner one.
    for hit in sorted(hits, key=lambda h: len(h.value), reverse=True):
        old, new = hit.value, placeholder(hit.finding.detector)
        if any(old in outer for outer in replaced):
            continue
        replaced.append(old)
        location = hit.finding.location
        if location.startswith(("url.", "query:")):
            if old not in path:
                raise RedactionImpossible("value not verbatim in the URL")
            path = path.replace(old, new)
        elif location.startswith("header:"):
            encoded_old, encoded_new = old.encode("utf-8", "surrogateescape"), new.encode()
            if not any(encoded_old in name + b"\0" + value for name, value in headers):
                raise RedactionImpossible("value not verbatim in a header")
            headers = [(name.replace(encoded_old, encoded_new),
                        value.replace(encoded_old, encoded_new)) for name, value in headers]
        else:
            encoded_old = old.encode("utf-8", "surrogateescape")
            if body is None or encoded_old not in body:
                raise RedactionImpossible("value not verbatim in the body")
            body = body.replace(encoded_old, new.encode())
    request.path = path
    request.headers = http.Headers(headers)
    if body is not None and body != decoded_body:
        request.content = body  # re-encodes per Content-Encoding, sets Content-Length
