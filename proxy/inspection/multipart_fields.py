"""The fields of a multipart body: each part (file uploads too, nested multipart split again),
with its transfer encoding undone, in both readings, and decompressed when it is compressed
data. See body_fields.py for the locations.
"""

from __future__ import annotations

import binascii
import quopri
import re
from collections.abc import Iterator
from email.message import Message

from proxy.inspection.decode_errors import DecodeLimitExceeded
from proxy.inspection.fields import Field, is_plain_name
from proxy.inspection.readings import every_reading, param_value, parse_content_type

MULTIPART_MAX_DEPTH = 4  # multipart inside multipart: deeper is refused (DecodeLimitExceeded)
MULTIPART_MAX_PARTS = 10_000  # parts in one body over all levels: more is refused
HEADERS_SUFFIX = "#headers"  # the location of a part's headers: `multipart:<name>#headers`
_BASE64_BLOCK = re.compile(rb"[^=]+=*|=+")


class PartBudget:
    """Parts left to read in one body, over all nesting levels, and the body's size limit
    (for what a compressed part decompresses to)."""

    def __init__(self, limit: int) -> None:
        self.left = MULTIPART_MAX_PARTS
        self.limit = limit

    def take(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise DecodeLimitExceeded(f"more than {MULTIPART_MAX_PARTS} multipart parts")


def multipart_fields(data: bytes, boundary: str, budget: PartBudget, *,
                      prefix: str = "multipart:", depth: int = 1) -> Iterator[Field]:
    """Each part of a multipart body as text (both readings when its charset is not UTF-8),
    named by its field name or file name; a part that is itself multipart is split too."""
    for index, (headers, head, body) in enumerate(_split_multipart(data, boundary)):
        budget.take()
        disposition = headers.get("content-disposition", "")
        names = _disposition_names(disposition)
        label = prefix + next((n for n in names if is_plain_name(n)), f"#{index}")
        # The part's headers are the sender's too (a file name, a name, any header): peeled
        # like the rest, so that a file named by a base64'd key is not read only as written.
        # As sent, not as parsed: a header given twice, or folded onto a line of its own,
        # is read by some receivers and would be lost in the parsed view.
        if head:
            yield Field(f"{label}{HEADERS_SUFFIX}", head.decode("utf-8", errors="replace"))
        content = _undo_transfer_encoding(body, headers.get("content-transfer-encoding", ""))
        mime, params = parse_content_type(headers.get("content-type"))
        if mime.startswith("multipart/") and params.get("boundary"):
            if depth >= MULTIPART_MAX_DEPTH:
                # Deeper nesting could hide an inner transfer encoding: refuse, not forward.
                raise DecodeLimitExceeded(f"multipart nested deeper than {MULTIPART_MAX_DEPTH}")
            yield from multipart_fields(content, params["boundary"], budget,
                                         prefix=f"{label}/", depth=depth + 1)
        # in its charset's reading and its UTF-8 one, and decompressed (a .gz file uploaded)
        for reading in every_reading(content, budget.limit, params.get("charset")):
            yield Field(label, reading)


def _split_multipart(data: bytes, boundary: str
                     ) -> Iterator[tuple[dict[str, str], bytes, bytes]]:
    """(headers, raw header block, body) of every part between the delimiters (RFC 2046
    section 5.1.1)."""
    delimiter = b"--" + boundary.encode("latin-1", errors="replace")
    for chunk in data.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            return  # the close delimiter: what follows is the epilogue
        head, body = _split_head(_strip_line_ends(chunk))
        yield _part_headers(head), head, body


def outside_parts(data: bytes, boundary: str) -> list[tuple[str, bytes]]:
    """("preamble" / "epilogue", bytes) of what a multipart body holds outside its parts:
    before the first delimiter, and after the close delimiter (parts placed after an early
    close too). RFC 2046 says a receiver ignores both; one that does not reads them, so they
    are peeled like a part, not only matched as written."""
    delimiter = b"--" + boundary.encode("latin-1", errors="replace")
    outside = []
    first = data.find(delimiter)
    preamble = data if first < 0 else data[:first]
    if preamble.strip():
        outside.append(("preamble", preamble))
    close = data.find(delimiter + b"--", max(first, 0))
    if first >= 0 and close >= 0:
        epilogue = data[close + len(delimiter) + 2:]
        if epilogue.strip():
            outside.append(("epilogue", epilogue))
    return outside


def _strip_line_ends(chunk: bytes) -> bytes:
    """Drop the line end after a delimiter and the one before the next (part of it)."""
    chunk = chunk.removeprefix(b"\r\n").removeprefix(b"\n")
    if chunk.endswith(b"\r\n"):
        return chunk[:-2]
    return chunk.removesuffix(b"\n")


def _split_head(chunk: bytes) -> tuple[bytes, bytes]:
    """A part's header block and body, at the first blank line (CRLF or LF, whichever comes
    first: a later CRLF one must not make the body before it read as headers)."""
    ends = [(found, len(separator)) for separator in (b"\r\n\r\n", b"\n\n")
            if (found := chunk.find(separator)) >= 0]
    if not ends:
        return b"", chunk
    at, size = min(ends)
    return chunk[:at], chunk[at + size:]


def _part_headers(head: bytes) -> dict[str, str]:
    """A part's headers by lower-cased name."""
    headers: dict[str, str] = {}
    for line in head.decode("utf-8", errors="replace").splitlines():
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers


def _disposition_names(disposition: str) -> list[str]:
    """The field name and file name of a Content-Disposition value, those present."""
    message = Message()
    message["content-disposition"] = disposition.replace("\r", " ").replace("\n", " ")
    name = message.get_param("name", header="content-disposition")
    names = [param_value(name) if isinstance(name, str | tuple) else None, message.get_filename()]
    return [n for n in names if n]


def _undo_transfer_encoding(body: bytes, encoding: str) -> bytes:
    """Undo a part's Content-Transfer-Encoding (base64, quoted-printable); else as it is."""
    encoding = encoding.strip().lower()
    try:
        if encoding == "base64":
            return _base64_blocks(body)
        if encoding == "quoted-printable":
            return quopri.decodestring(body)
    except (binascii.Error, ValueError):
        return body  # undecodable: scanned as it is, peeling may still find the runs
    return body


def _base64_blocks(body: bytes) -> bytes:
    """Base64 content decoded block by block: `a2b_base64` stops at the first padding, so
    `b64(a)` then `b64(b)` on the next line would show only `a`. A block ends at its padding;
    a block that does not decode is kept as it is, for peeling."""
    compact = re.sub(rb"\s+", b"", body)
    out = []
    for block in _BASE64_BLOCK.findall(compact):
        try:
            out.append(binascii.a2b_base64(block))
        except binascii.Error:
            out.append(block)
    return b"".join(out)
