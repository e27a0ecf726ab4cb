"""A PNG's pixel data, told apart from data hidden in its place, so that it is not read as text.

embedded.py inflates every zlib stream in a binary file and refuses a file whose streams give more
than the body limit: that is how a stream hidden in a file is never let through unread. A PNG's
pixels are such a stream (IDAT chunks), and a screenshot's pixels inflate to more than 10 MiB
(2560x1440 in RGBA: 14 MiB), so honest screenshots were refused. Pixels are not text, and nothing
reads them as text: `pixel_ranges(data)` checks the image's stream against its header (IHDR:
width, height, bit depth, colour type, interlacing) and returns the byte ranges of its IDAT
chunks only when they inflate to exactly the size those give, with a valid filter byte at the
start of every row (of every pass, when interlaced). Then the caller skips them. Anything else
(more or less output, bytes after the stream, a filter byte out of range) is not pixel data, and
is looked into as before.

Inflating costs CPU (about 10 ms per 10 MiB of pixels) but no memory: the output is checked in
CHUNK pieces and dropped.

Pixels can carry text all the same: bytes of a `.env` written as the grey levels of a small
image, one row per line, which the receiver reads back by inflating and unfiltering the rows
(red team, 2026-11-22). So a stream that is mostly printable ASCII as it inflates (text rows
with filter 0) is not taken for pixels, and `pixel_samples` hands back an image's samples
without their filter bytes, to be read as text: unfiltered for a small image (at most
MAX_TEXT_SAMPLES bytes: the filters Sub, Up, Average and Paeth would hide text rows from the
printable check), as stored for a mostly printable one. Larger images are not unfiltered
(Python, per byte: a screenshot would cost seconds): text among their noise rows, written with
a filter other than None, is not found.
"""

from __future__ import annotations

import struct
import zlib

from proxy.inspection.compression import CHUNK

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PIXEL_BYTES = 1 << 31  # larger images are not told apart: looked into like other data
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type: samples per pixel
_BIT_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
# Adam7: (x start, y start, x step, y step) of each of the seven passes
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
          (0, 1, 1, 2))
_MAX_FILTER = 4
# Samples of an image small enough to unfilter (about 20 ms in Python at most): text hidden in
# pixels is small, a secret a few kilobytes; a photo or screenshot is far larger.
MAX_TEXT_SAMPLES = 64 * 1024
# Share of printable ASCII in the inflated stream (filter bytes included) from which it is
# text, not pixels: a grey-level row of text with filter 0 is all printable but its filter byte.
TEXT_SHARE = 0.75
_NOT_PRINTABLE = bytes(set(range(256)) - set(range(0x20, 0x7F)) - {0x09, 0x0A, 0x0D})


def pixel_ranges(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of the data of each IDAT chunk when `data` is a PNG whose IDAT stream is
    exactly its pixel data; else []."""
    if not data.startswith(PNG_SIGNATURE):
        return []
    chunks = _chunks(data)
    if not chunks or chunks[0][0] != b"IHDR" or chunks[0][2] - chunks[0][1] != 13:
        return []
    rows = _row_sizes(data[chunks[0][1]:chunks[0][2]])
    ranges = [(start, end) for kind, start, end in chunks if kind == b"IDAT"]
    if rows is None or not ranges or not _is_pixel_stream(data, ranges, rows):
        return []
    return ranges


def pixel_samples(data: bytes, ranges: list[tuple[int, int]], limit: int) -> bytes | None:
    """The samples of a non-interlaced PNG, rows one after the other without their filter
    bytes, to be read as text: unfiltered when the image holds at most MAX_TEXT_SAMPLES bytes
    of them (`ranges` from pixel_ranges, or [] when it found the stream mostly printable or not
    pixel data), rows as stored otherwise (filter 0: the samples themselves), and only for a
    stream it did not take for pixels. None for anything else: not a PNG, interlaced, a stream
    that does not inflate to exactly its rows, more than `limit` bytes."""
    chunks = _chunks(data) if data.startswith(PNG_SIGNATURE) else []
    if not chunks or chunks[0][0] != b"IHDR" or chunks[0][2] - chunks[0][1] != 13:
        return None
    header = data[chunks[0][1]:chunks[0][2]]
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if _row_sizes(header) is None or interlace:
        return None
    row_bytes = (width * _CHANNELS[colour] * depth + 7) // 8
    small = row_bytes * height <= MAX_TEXT_SAMPLES
    if (ranges and not small) or row_bytes * height > limit:
        return None  # pixels too many to unfilter, or past what may be decoded
    stream = b"".join(data[start:end] for kind, start, end in chunks if kind == b"IDAT")
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(stream, (row_bytes + 1) * height + 1)
    except zlib.error:
        return None
    if len(raw) != (row_bytes + 1) * height:
        return None
    stride = max(1, _CHANNELS[colour] * depth // 8)  # bytes per pixel, as the filters count
    samples = bytearray()
    previous = bytearray(row_bytes)
    for top in range(0, len(raw), row_bytes + 1):
        row = bytearray(raw[top + 1:top + 1 + row_bytes])
        if small:
            _unfilter(raw[top], row, previous, stride)
        samples += row
        previous = row
    return bytes(samples)


def _unfilter(kind: int, row: bytearray, above: bytearray, stride: int) -> None:
    """Undo one row's filter in place (PNG §9.2)."""
    if kind == 1:
        for i in range(stride, len(row)):
            row[i] = (row[i] + row[i - stride]) & 0xFF
    elif kind == 2:
        for i in range(len(row)):
            row[i] = (row[i] + above[i]) & 0xFF
    elif kind == 3:
        for i in range(len(row)):
            left = row[i - stride] if i >= stride else 0
            row[i] = (row[i] + ((left + above[i]) >> 1)) & 0xFF
    elif kind == 4:
        for i in range(len(row)):
            a = row[i - stride] if i >= stride else 0
            b, c = above[i], (above[i - stride] if i >= stride else 0)
            estimate = a + b - c
            pa, pb, pc = abs(estimate - a), abs(estimate - b), abs(estimate - c)
            nearest = a if pa <= pb and pa <= pc else b if pb <= pc else c
            row[i] = (row[i] + nearest) & 0xFF


def _chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, data start, data end) of every chunk, up to IEND; [] when the layout is broken."""
    chunks: list[tuple[bytes, int, int]] = []
    offset = len(PNG_SIGNATURE)
    while offset + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, offset)
        start = offset + 8
        end = start + length
        if end + 4 > len(data):
            return []
        chunks.append((kind, start, end))
        offset = end + 4  # the CRC
        if kind == b"IEND":
            return chunks
    return []


def _row_sizes(header: bytes) -> list[int] | None:
    """The byte size of every row the stream holds (a filter byte and the row's samples), pass
    after pass when interlaced; None for a header that is not a valid one."""
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", header)
    if (colour not in _CHANNELS or depth not in _BIT_DEPTHS[colour] or compression
            or filtering or interlace > 1 or not width or not height):
        return None
    bits = _CHANNELS[colour] * depth
    if width * height * bits // 8 > MAX_PIXEL_BYTES:
        return None
    passes = _ADAM7 if interlace else ((0, 0, 1, 1),)
    rows: list[int] = []
    for x0, y0, dx, dy in passes:
        columns = (width - x0 + dx - 1) // dx if width > x0 else 0
        lines = (height - y0 + dy - 1) // dy if height > y0 else 0
        if columns and lines:
            rows += [1 + (columns * bits + 7) // 8] * lines
    return rows


def _is_pixel_stream(data: bytes, ranges: list[tuple[int, int]], rows: list[int]) -> bool:
    """Whether the IDAT data inflates to exactly `rows`, each starting with a filter byte, and
    is not mostly printable text."""
    inflater = zlib.decompressobj()
    expected = sum(rows)
    row, row_start, produced = 0, 0, 0  # next row, where it starts in the output, output so far
    printable = 0
    view = memoryview(data)
    try:
        for start, end in ranges:
            for piece in range(start, end, CHUNK):
                output = inflater.decompress(view[piece:min(piece + CHUNK, end)], CHUNK)
                while True:
                    produced += len(output)
                    printable += len(output.translate(None, _NOT_PRINTABLE))
                    if produced > expected:
                        return False
                    # the filter byte of every row that starts in this piece of output
                    while row < len(rows) and row_start < produced:
                        if output[row_start - (produced - len(output))] > _MAX_FILTER:
                            return False
                        row_start += rows[row]
                        row += 1
                    if not inflater.unconsumed_tail:
                        break
                    output = inflater.decompress(inflater.unconsumed_tail, CHUNK)
    except zlib.error:
        return False
    return (produced == expected and inflater.eof and not inflater.unused_data
            and printable < TEXT_SHARE * produced)
