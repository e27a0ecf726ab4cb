"""Compressed streams that do not start a body: after a prefix, inside a file, or without a magic
number.

`readings.uncompressed_layers` opens a body or upload that *is* compressed data. A receiver
that knows where to look opens more: a gRPC message is a 5-byte frame header then gzip, a PDF
keeps its text in zlib (FlateDecode) streams, a PNG in zTXt/iTXt chunks, and a zip archive or
a gzip stream may follow a byte of junk put there to hide it. Raw deflate and Brotli have no
magic number at all. `embedded_streams(data, limit)` finds them in data that is not UTF-8 text
(compressed data is not, and text such as `x^2` must not pay for what looks like a zlib header):

- a gzip, zlib, zstd, xz or bzip2 magic number (compression.sniff_format) or a zip local file
  header anywhere after the first byte. A zlib header is two bytes and occurs by chance about
  once per 16 KiB of random data: a candidate counts only when its first MIN_STREAM_OUTPUT
  bytes inflate (one bounded decoder call on its first _PROBE_INPUT bytes);
- raw deflate or Brotli at the start: kept when the first BLIND_PROBE_BYTES of output are text
  and the whole stream decodes (blind_stream, which decoded runs use too: layers.py).

Streams are read leniently (what decodes before damage or trailing bytes is kept: the rest of
the file follows a stream), and do not overlap: the search goes on after the end of a gzip or
zlib stream, and inside any other (a decoy must not hide what follows it).
A PNG's pixel data is skipped when it checks out as exactly that (png_pixels.py: the size its
header gives, a filter byte at every row, not mostly printable): a screenshot's pixels inflate
past the body limit. A small image's samples, unfiltered, are returned to be read as text.
Pixel data that does not check out is inflated like any stream.
Bounded: output over `limit` in all raises DecodeLimitExceeded, and
so do more than MAX_CANDIDATES magic numbers to try (a body made of them), and candidates that
read more than WORK_FACTOR times the data in all (nested candidates that each read to its
end): the caller blocks rather than forwards what it did not look into.
"""

from __future__ import annotations

import re
import zlib

from proxy.inspection.archives import ZIP_MAGIC, zip_members
from proxy.inspection.compression import (
    CHUNK,
    decompress,
    inflate_member,
    probe_head,
    sniff_format,
)
from proxy.inspection.decode_errors import DecodeLimitExceeded, UndecodableBody
from proxy.inspection.png_pixels import pixel_ranges, pixel_samples
from proxy.inspection.textual import bytes_as_text, is_text, is_utf8

# Magic numbers tried per blob, at most (a probe each, about 3 µs): past it, DecodeLimitExceeded.
# Random data holds a zlib header about every 16 KiB: a body at the limit, a few hundred.
MAX_CANDIDATES = 65536
MIN_STREAM_OUTPUT = 16  # bytes a stream must give to count (a short secret is longer)
BLIND_FORMATS = ("br", "deflate")  # compressed formats without a magic number
# Compressed data without a magic number counts only when this much of its start decompresses
# to text (at least MIN_BLIND_TEXT bytes of it): random bytes rarely get that far.
BLIND_PROBE_BYTES = 1024
MIN_BLIND_TEXT = 8
_PROBE_INPUT = 1024  # input bytes handed to the probe of a candidate: no copy of the whole tail
# Input that the candidates of one blob may read in all, per byte of it (and a floor): a stream
# that ends in damage has no known end, so the search goes on inside it, and candidates nested
# in one another that each inflate to the end of the data (padded with empty deflate blocks)
# cost candidates times size: a 0.9 MB body took 14 s of the proxy's one thread. Past it, refused.
WORK_FACTOR = 8
MIN_WORK = 8 * 1024 * 1024
# Where a stream with a magic number may start: gzip, zstd, xz, bzip2 (its block magic is
# checked by sniff_format), zlib with a 32 KiB window and the header of one of the four levels
# zlib writes (other windows are rare, and every byte pair with valid check bits would make a
# candidate of one position in a thousand), a zip archive's first member.
_MAGIC = re.compile(
    rb"\x1f\x8b\x08|\x28\xb5\x2f\xfd|\xfd7zXZ\x00|BZh[1-9]|x[\x01\x5e\x9c\xda]|PK\x03\x04")


def embedded_streams(data: bytes, limit: int, *, probe_blind: bool = True) -> list[bytes]:
    """What the compressed streams inside `data` (not text) decompress to, in order (see the
    module's docstring); [] for text. `probe_blind=False`: the caller has already read `data` as
    raw deflate and Brotli (blind_stream), and found neither."""
    if not data or is_utf8(data):
        return []  # text: a compressed stream's bytes are not UTF-8 (nor its magic numbers)
    found: list[bytes] = []
    left = limit
    if probe_blind and not is_text(bytes_as_text(data[:BLIND_PROBE_BYTES])):
        blind = blind_stream(data, left)
        if blind is not None:
            return [blind[1]]  # the whole body is one stream
    # An archive at the start is read by the caller (readings.uncompressed_layers): what
    # follows its end is still looked into.
    resume = _zip_end(data, 0) if data.startswith(ZIP_MAGIC) else 1
    # A PNG's pixels, checked to be exactly that (png_pixels.py): not text, and not searched.
    pixels = pixel_ranges(data)
    samples = pixel_samples(data, pixels, left)  # pixels may spell text (png_pixels.py)
    if samples is not None:
        found.append(samples)
        left -= len(samples)
    tried = 0
    work, most_work = 0, WORK_FACTOR * len(data) + MIN_WORK
    for match in _MAGIC.finditer(data, 1):
        offset = match.start()
        if offset < resume:
            continue  # inside a stream already read
        if pixels and any(start <= offset < end for start, end in pixels):
            continue
        tried += 1
        if tried > MAX_CANDIDATES:
            raise DecodeLimitExceeded(f"more than {MAX_CANDIDATES} embedded stream candidates")
        output, end = _stream_at(data, offset, left)
        # the input a candidate read: none past its probe when it gave nothing; to its end
        # when known; else (damage, or a format read leniently) all that follows it
        if not output:
            work += min(_PROBE_INPUT, len(data) - offset)
        else:
            work += end - offset if end > offset else len(data) - offset
        if work > most_work:
            raise DecodeLimitExceeded("embedded stream candidates read the data over and over")
        if len(output) < MIN_STREAM_OUTPUT:
            continue
        found.append(output)
        left -= len(output)
        resume = max(end, offset + 1)
    return found


def _stream_at(data: bytes, offset: int, left: int) -> tuple[bytes, int]:
    """(output, end) of the stream starting at `offset`, or (b"", offset) when none does.
    `end` is where the stream stops when that is known (gzip, zlib), else `offset`: the search
    goes on inside it, so that a decoy stream cannot hide the ones after it."""
    if data.startswith(ZIP_MAGIC, offset):
        end = _zip_end(data, offset)
        members = zip_members(data[offset:end], left, found_inside=True)
        return b"\n".join(members), end if members else offset
    head = data[offset:offset + _PROBE_INPUT]
    fmt = sniff_format(head)
    if fmt is None:
        return b"", offset
    probe = probe_head(fmt, head, size=MIN_STREAM_OUTPUT)
    if probe is None or len(probe) < min(MIN_STREAM_OUTPUT, len(head)):
        return b"", offset  # most zlib-looking bytes of binary data inflate to nothing
    if fmt in ("gzip", "zlib"):
        return _inflate(data, offset, fmt, left)
    try:
        return decompress(fmt, data[offset:], limit=left, lenient=True), offset
    except UndecodableBody:
        return b"", offset


_ZIP_END_RECORD = b"PK\x05\x06"  # end of central directory: 22 bytes, then a comment
_ZIP_END_RECORD_SIZE = 22


def _zip_end(data: bytes, offset: int) -> int:
    """Where the zip archive starting at `offset` ends: after its first end-of-central-directory
    record and comment (the next archive, or anything else, may follow), else the end of data."""
    record = data.find(_ZIP_END_RECORD, offset)
    if record < 0 or record + _ZIP_END_RECORD_SIZE > len(data):
        return len(data)
    comment = int.from_bytes(data[record + 20:record + 22], "little")
    return min(len(data), record + _ZIP_END_RECORD_SIZE + comment)


def _inflate(data: bytes, offset: int, fmt: str, left: int) -> tuple[bytes, int]:
    """One gzip member or zlib stream from `offset`, read leniently, and where it ends; over a
    view of `data` (no copy of the rest of a large file for every stream)."""
    wbits = 16 + zlib.MAX_WBITS if fmt == "gzip" else zlib.MAX_WBITS
    chunks = inflate_member(memoryview(data), offset, CHUNK, wbits, fmt)
    out = bytearray()
    end = len(data)
    try:
        while True:
            out += next(chunks)
            if len(out) > left:
                raise DecodeLimitExceeded(f"embedded {fmt} output exceeds {left} bytes")
    except StopIteration as stop:
        end = stop.value
    except UndecodableBody:
        end = offset  # damage or a cut: what was read before it counts; where it ends is not
    return bytes(out), end


def blind_stream(data: bytes, limit: int) -> tuple[str, bytes] | None:
    """(format, output) of `data` read as Brotli or raw deflate, which have no magic number,
    when the first BLIND_PROBE_BYTES of output are text and the whole stream decodes; else
    None. Output past `limit` raises DecodeLimitExceeded. Shared by decoded runs
    (layers._Peeler._open) and bodies (embedded_streams)."""
    for fmt in BLIND_FORMATS:
        head = probe_head(fmt, data, size=BLIND_PROBE_BYTES)
        if head is None or len(head) < MIN_BLIND_TEXT or not is_text(bytes_as_text(head)):
            continue
        # Without one, the whole stream must decode: random bytes sometimes start like
        # deflate or Brotli, but never end like it. One that outgrows the budget refuses the
        # request (DecodeLimitExceeded), even though a run of a few letters sometimes decodes
        # as Brotli to its dictionary's words over and over (`himselfselfself...`, from the
        # letters of a JSON schema's enum): skipping such streams would let a real one that
        # puts a key after the budget's worth of filler through unread.
        try:
            return fmt, decompress(fmt, data, limit=limit)
        except UndecodableBody:
            continue
    return None
