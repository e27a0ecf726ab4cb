"""A PNG's pixels are told apart from data hidden in their place: only what checks out as pixel
data exactly is skipped; a screenshot whose pixels inflate past the body limit is not refused."""

from __future__ import annotations

import struct
import zlib

import pytest

from proxy.inspection.body_fields import body_fields
from proxy.inspection.decode_errors import DecodeLimitExceeded
from proxy.inspection.png_pixels import MAX_TEXT_SAMPLES, pixel_ranges, pixel_samples
from proxy.inspection.readings import uncompressed_layers

KEY = b"key AKIA2OGYBAH6STMMNXNQ"
_SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data)))


def _png(width: int, height: int, colour: int = 6, depth: int = 8, *, pixel: int = 7,
         filter_byte: int = 1, after: bytes = b"", rows: int | None = None,
         extra_chunks: bytes = b"", split: int = 8192) -> bytes:
    """A non-interlaced PNG; `after` is appended to the pixel stream, `rows` overrides how
    many rows it holds."""
    row = bytes([filter_byte]) + bytes([pixel]) * ((width * _SAMPLES[colour] * depth + 7) // 8)
    stream = zlib.compress(row * (height if rows is None else rows) + after)
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    idat = b"".join(_chunk(b"IDAT", stream[i:i + split]) for i in range(0, len(stream), split))
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + extra_chunks + idat
            + _chunk(b"IEND", b""))


@pytest.mark.parametrize(("width", "height", "colour", "depth"), [
    (2560, 1440, 6, 8), (1, 1, 0, 1), (33, 17, 0, 4), (100, 37, 3, 8), (64, 48, 2, 16),
    (7, 300, 4, 8),
])
def test_pixel_data_that_checks_out_is_found(width: int, height: int, colour: int,
                                             depth: int) -> None:
    assert pixel_ranges(_png(width, height, colour, depth))


NOT_PIXELS = {
    "text after the pixels": _png(64, 48, after=KEY),
    "a row short": _png(64, 48, rows=47),
    "a row too many": _png(64, 48, rows=49),
    "a filter byte out of range": _png(64, 48, filter_byte=9),
    "text in place of the pixels": (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 1, 8, 0, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(KEY)) + _chunk(b"IEND", b"")),
    "no IEND": _png(64, 48)[:-12],
    "not a png": b"GIF89a" + bytes(100),
}


@pytest.mark.parametrize("data", NOT_PIXELS.values(), ids=NOT_PIXELS.keys())
def test_what_is_not_exactly_pixel_data_is_not_skipped(data: bytes) -> None:
    assert pixel_ranges(data) == []


def test_a_screenshot_whose_pixels_pass_the_limit_is_read_not_refused() -> None:
    """2560x1440 RGBA: 14 MiB of pixels, far above a 1 MiB limit; a text chunk is still read."""
    text = _chunk(b"tEXt", b"Comment\x00" + KEY)
    image = _png(2560, 1440, extra_chunks=text)
    assert len(image) < 1 << 20
    assert uncompressed_layers(image, 1 << 20) == []
    assert any(KEY.decode() in field.text
               for field in body_fields(image, "image/png", limit=1 << 20))


def test_data_hidden_in_place_of_pixels_is_still_read_and_still_bounded() -> None:
    assert any(KEY in layer for layer in uncompressed_layers(NOT_PIXELS["text after the pixels"],
                                                             1 << 20))
    assert any(KEY in layer for layer in uncompressed_layers(
        NOT_PIXELS["text in place of the pixels"], 1 << 20))
    with pytest.raises(DecodeLimitExceeded):  # pixels plus hidden bytes: inflated, and counted
        uncompressed_layers(_png(2560, 1440, after=KEY), 1 << 20)


# --- text written as pixels (red team, 2026-11-22) ---------------------------------------------

ENV = b"aws_access_key_id=AKIA2OGYBAH6STMMNXNQ\nGITHUB_TOKEN=ghp_" + b"Zq8" * 12 + b"\n"


def _filtered(row: bytes, above: bytes, kind: int, stride: int) -> bytes:
    """`row` written with PNG filter `kind` (the inverse of what a reader undoes)."""
    out = bytearray()
    for i, value in enumerate(row):
        a = row[i - stride] if i >= stride else 0
        b, c = above[i], (above[i - stride] if i >= stride else 0)
        if kind == 1:
            guess = a
        elif kind == 2:
            guess = b
        elif kind == 3:
            guess = (a + b) >> 1
        elif kind == 4:
            estimate = a + b - c
            pa, pb, pc = abs(estimate - a), abs(estimate - b), abs(estimate - c)
            guess = a if pa <= pb and pa <= pc else b if pb <= pc else c
        else:
            guess = 0
        out.append((value - guess) & 0xFF)
    return bytes(out)


def _text_png(text: bytes, *, width: int = 32, colour: int = 0, kind: int = 0) -> bytes:
    """`text` as the samples of an 8-bit image, `width` pixels a row, rows filtered by `kind`."""
    stride = _SAMPLES[colour]
    row_bytes = width * stride
    rows = [text[i:i + row_bytes].ljust(row_bytes, b" ") for i in range(0, len(text), row_bytes)]
    stream, above = b"", bytes(row_bytes)
    for row in rows:
        stream += bytes([kind]) + _filtered(row, above, kind, stride)
        above = row
    header = struct.pack(">IIBBBBB", width, len(rows), 8, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(stream)) + _chunk(b"IEND", b""))


@pytest.mark.parametrize("kind", [0, 1, 2, 3, 4], ids=["none", "sub", "up", "average", "paeth"])
@pytest.mark.parametrize("colour", [0, 2, 6], ids=["grey", "rgb", "rgba"])
def test_text_written_as_a_small_images_pixels_is_read_back(kind: int, colour: int) -> None:
    image = _text_png(ENV, colour=colour, kind=kind)
    ranges = pixel_ranges(image)
    if ranges:  # filtered rows are not printable: taken for pixels, then unfiltered
        assert ENV in (pixel_samples(image, ranges, 1 << 20) or b"")
    assert any(ENV[:40] in layer for layer in uncompressed_layers(image, 1 << 20))


def test_mostly_printable_pixel_data_is_not_taken_for_pixels() -> None:
    """Text rows with filter 0 in a large image (too large to unfilter) are read as a stream."""
    text = (ENV * 4000)[:MAX_TEXT_SAMPLES * 2]
    image = _text_png(text, width=256)
    assert pixel_ranges(image) == []
    assert any(ENV[:40] in layer for layer in uncompressed_layers(image, 1 << 20))


def test_a_large_images_pixels_are_not_unfiltered() -> None:
    image = _png(512, 512, colour=6)  # 1 MiB of samples
    ranges = pixel_ranges(image)
    assert ranges and pixel_samples(image, ranges, 1 << 30) is None
