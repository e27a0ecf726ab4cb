"""How a body's bytes become text: its content type and charset (or BOM, or sniffed UTF-16/32),
both readings when that is not UTF-8; and compressed data sent as it is, decompressed
(`uncompressed_layers`). See body_fields.py for what is done with them.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from email.message import Message
from email.utils import collapse_rfc2231_value

from proxy.inspection.archives import zip_members
from proxy.inspection.compression import decompress, sniff_format
from proxy.inspection.decode_errors import DecodeLimitExceeded, DepthLimitExceeded
from proxy.inspection.der_keys import armoured, private_key_kind, private_keys_within
from proxy.inspection.embedded import embedded_streams
from proxy.inspection.textual import sniff_wide_codec

MAX_COMPRESSED_LAYERS = 3  # compressed data inside compressed data, undone this deep
MAX_ARCHIVE_DEPTH = 3  # archives inside archives (a .jar in a .war in a .zip), opened this deep
_UTF8_NAMES = {"utf-8", "utf_8", "utf8", "us-ascii", "ascii"}


def uncompressed_layers(data: bytes, limit: int, *, depth: int = 0, compressed: int = 0
                        ) -> list[bytes]:
    """What `data` decompresses to when it is itself compressed data with a magic number
    (gzip, zlib, zstd, bzip2, xz), and what that decompresses to in turn, up to
    MAX_COMPRESSED_LAYERS: a body or a file upload that no Content-Encoding announces. A zip
    archive at any of these layers gives its members (archives.py: UndecodableBody for one
    that holds a member we cannot read, such as an encrypted one), and those members' own
    layers, MAX_ARCHIVE_DEPTH archives deep; other data gives the streams found inside it
    (embedded.py: after a prefix, in a file, raw deflate or Brotli), each opened in turn like
    a layer (`junk + gzip(gzip(key))`). A private key's DER (or OpenSSH binary) gives its PEM
    form (der_keys.py). `depth` counts the archives around `data`, `compressed` the
    decompressions that made it.

    Damage is tolerated (what decodes before it is kept, as a lenient receiver would read it);
    output past `limit` raises DecodeLimitExceeded, and a layer still compressed below the
    last one undone DepthLimitExceeded, so that the caller blocks rather than forwards what it
    could not look into."""
    layers: list[bytes] = []
    while True:
        kind = private_key_kind(data)
        if kind is not None:  # a key file's DER (`.der`, `.p12`): what its PEM lines would say
            layers.append(armoured(data, kind).encode("ascii"))
            break
        fmt = sniff_format(data)
        if fmt is None:
            members = zip_members(data, limit)
            layers += members
            if depth < MAX_ARCHIVE_DEPTH:  # a .jar in a .war, a .zip in a .zip
                held = sum(map(len, layers))  # kept up to date, not summed again per member
                for member in members:
                    opened = uncompressed_layers(member, limit, depth=depth + 1)
                    layers += opened
                    held += sum(map(len, opened))
                    if held > limit:
                        raise DecodeLimitExceeded(f"archive contents exceed {limit} bytes")
            # after a prefix or an archive, no magic number
            layers += _embedded_layers(data, limit, depth, compressed)
            # a key file in a tar archive, or after a prefix: read as the PEM it would be
            layers += [key.encode("ascii") for key in private_keys_within(data)]
            break
        # A lenient read stops at damage or trailing bytes: streams after those are found
        # like streams after a prefix (`gzip(decoy) + junk + gzip(key)`).
        inner = decompress(fmt, data, limit=limit, lenient=True)
        layers += _embedded_layers(data, limit, depth, compressed)
        if not inner:
            break  # the magic number was there by chance
        compressed = once_more_decompressed(compressed)
        layers.append(inner)
        data = inner
    return layers


def once_more_decompressed(compressed: int) -> int:
    """The count of decompressions after one more, or DepthLimitExceeded past
    MAX_COMPRESSED_LAYERS: data still compressed there is refused, not forwarded unread."""
    if compressed >= MAX_COMPRESSED_LAYERS:
        raise DepthLimitExceeded(f"data compressed more than {MAX_COMPRESSED_LAYERS} times")
    return compressed + 1


def _embedded_layers(data: bytes, limit: int, depth: int, compressed: int) -> list[bytes]:
    """The streams found inside `data` (embedded.py), each followed by its own layers."""
    layers: list[bytes] = []
    for stream in embedded_streams(data, limit):
        layers.append(stream)
        layers += uncompressed_layers(stream, limit, depth=depth,
                                      compressed=once_more_decompressed(compressed))
    return layers


def parse_content_type(value: str | None) -> tuple[str, dict[str, str]]:
    """The lower-cased media type and its parameters ("" when absent)."""
    if not value:
        return "", {}
    if ";" not in value and value.isascii():
        # No parameters: what the email parser says, without it (which, given surrogates
        # from undecodable header bytes, may raise: that case goes through it still).
        return value.strip().lower(), {}
    message = Message()
    message["content-type"] = value.replace("\r", " ").replace("\n", " ")
    params = {key.lower(): param_value(val) for key, val in message.get_params(failobj=[])[1:]}
    mime = value.split(";", 1)[0].strip().lower()
    return mime, params


def param_value(value: str | tuple[str | None, str | None, str]) -> str:
    """A header parameter, RFC 2231 encoded or not, as one string."""
    return collapse_rfc2231_value(value) if isinstance(value, tuple) else value


def every_reading(data: bytes, limit: int, charset: str | None = None) -> Iterator[str]:
    """The non-empty readings of `data` (per `charset`), then those of what it decompresses
    to (uncompressed_layers: a `.gz` upload, a compressed WebSocket message), in order."""
    yield from filter(None, readings(data, charset))
    for inner in uncompressed_layers(data, limit):
        yield from filter(None, readings(inner, None))


def readings(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """The body as text per its charset (or BOM, or sniffed UTF-16/UTF-32), and its UTF-8
    reading (invalid bytes replaced) too when that differs: a receiver may ignore the declared
    charset, and one invalid byte must not hide the ASCII text around it."""
    codec = _codec(data, charset)
    if codec is None:
        return data.decode("utf-8", errors="replace"), None
    text = data.decode(codec, errors="replace")
    utf8 = data.decode("utf-8", errors="replace")
    return text, (utf8 if utf8 != text else None)


def _codec(data: bytes, charset: str | None) -> str | None:
    """The codec to read the body with, when it is not plain UTF-8."""
    for bom, name in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return name
    if charset and charset.strip().lower() not in _UTF8_NAMES:
        try:
            b"a".decode(charset.strip(), errors="replace")  # refuses "base64" and the like
        except LookupError:
            return None
        return charset.strip()
    return sniff_wide_codec(data)
