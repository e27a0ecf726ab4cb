"""Bounded decompression of gzip, zlib, raw deflate, zstd, Brotli, bzip2 and xz: never more
than a cap. (bzip2 and xz are not HTTP content codings: they are found by their magic numbers,
in a body or inside base64.)

Every format is decoded as a stream of chunks of at most CHUNK bytes, so the caller stops a
decompression bomb after at most `limit + CHUNK` bytes, whatever the compression ratio.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable, Generator
from contextlib import closing
from typing import Protocol

import zstandard

from proxy.inspection.brotli_stream import brotli_chunks, brotli_head
from proxy.inspection.decode_errors import DecodeLimitExceeded, TruncatedStream, UndecodableBody

CHUNK = 64 * 1024  # output produced per step: the most a cap can be overshot in memory
INPUT_STEP = 64 * 1024  # compressed input handed to zlib per call
# gzip members or zstd frames in one stream: writers use one, or a few when flushing; a
# body of thousands of empty ones is only there to cost us time.
MAX_MEMBERS = 1024
# RFC 9659 (zstd in HTTP) caps the window at 8 MiB; larger frames would let a sender make us
# allocate up to the library's 128 MiB default per decoder.
ZSTD_MAX_WINDOW = 8 * 1024 * 1024

# xz lets a stream ask for a dictionary of up to 1.5 GiB: refuse what needs more than this.
XZ_MEMLIMIT = 64 * 1024 * 1024

# "deflate" is raw deflate (RFC 1951)
FORMATS = ("gzip", "zlib", "deflate", "zstd", "br", "bzip2", "xz")

_GZIP_WBITS, _ZLIB_WBITS, _RAW_WBITS = 16 + zlib.MAX_WBITS, zlib.MAX_WBITS, -zlib.MAX_WBITS
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_GZIP_MAGIC = b"\x1f\x8b\x08"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_BZIP2_MAGIC = b"BZh"  # then the block size, "1" to "9", then a block or the end marker


def decompress(fmt: str, data: bytes, *, limit: int, lenient: bool = False) -> bytes:
    """Decompress all of `data`; raise DecodeLimitExceeded past `limit` bytes of output.

    Strict by default (corrupt or truncated data raises UndecodableBody). `lenient` returns
    what was produced before the damage instead: what a tolerant receiver could read.
    """
    out = bytearray()
    with closing(_chunks(fmt, data, CHUNK)) as chunks:
        try:
            for chunk in chunks:
                out += chunk
                if len(out) > limit:
                    raise DecodeLimitExceeded(f"{fmt} output exceeds {limit} bytes")
        except UndecodableBody:
            if not lenient:
                raise
    return bytes(out)


def probe_head(fmt: str, data: bytes, *, size: int) -> bytes | None:
    """The first `size` bytes of output at most (truncated input is fine), None if corrupt.

    One decoder call, no more: this runs on every undecodable-looking run of base64.
    """
    if fmt in ("deflate", "zlib"):
        try:
            return zlib.decompressobj(_RAW_WBITS if fmt == "deflate" else _ZLIB_WBITS).decompress(
                data, size
            )
        except zlib.error:
            return None
    if fmt == "br":
        return brotli_head(data, size)
    try:
        return next(_chunks(fmt, data, size), b"")
    except UndecodableBody:
        return None


def sniff_format(data: bytes) -> str | None:
    """The format announced by the first bytes (gzip, zstd, xz, bzip2, zlib), or None: raw
    deflate and Brotli carry no magic number."""
    if data.startswith(_GZIP_MAGIC):
        return "gzip"
    if data.startswith(_ZSTD_MAGIC):
        return "zstd"
    if data.startswith(_XZ_MAGIC):
        return "xz"
    if data.startswith(_BZIP2_MAGIC) and data[3:4] in _BZIP2_LEVELS and data[4:10] in _BZIP2_NEXT:
        return "bzip2"
    if looks_like_zlib(data):
        return "zlib"
    return None


def looks_like_zlib(data: bytes) -> bool:
    """A valid RFC 1950 header: deflate method, window <= 32 KiB, check bits right."""
    if len(data) < 2:
        return False
    cmf, flg = data[0], data[1]
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf << 8 | flg) % 31 == 0


def _chunks(fmt: str, data: bytes, size: int) -> Generator[bytes, None, None]:
    """The decoder for `fmt` as a generator of output chunks of at most `size` bytes."""
    decoders: dict[str, Callable[[bytes, int], Generator[bytes, None, None]]] = {
        "gzip": _gzip_chunks,
        "zlib": lambda raw, size: _inflate_chunks(raw, size, _ZLIB_WBITS, "zlib"),
        "deflate": lambda raw, size: _inflate_chunks(raw, size, _RAW_WBITS, "deflate"),
        "zstd": _zstd_chunks,
        "br": brotli_chunks,
        "bzip2": lambda raw, size: _stdlib_chunks(raw, size, bz2.BZ2Decompressor, "bzip2"),
        "xz": lambda raw, size: _stdlib_chunks(
            raw, size, lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ, memlimit=XZ_MEMLIMIT), "xz"),
    }
    if fmt not in decoders:
        raise UndecodableBody(f"unknown compression format {fmt!r}")
    return decoders[fmt](data, size)


def _gzip_chunks(data: bytes, size: int) -> Generator[bytes, None, None]:
    """gzip, including several members one after the other (RFC 1952 allows it)."""
    view, position = memoryview(data), 0
    for _ in range(MAX_MEMBERS):
        position = yield from inflate_member(view, position, size, _GZIP_WBITS, "gzip")
        if position == len(data):
            return
        # Some writers pad with zeros after the last member; anything else must be a member.
        if data[position] == 0:
            if data.count(0, position) != len(data) - position:
                raise UndecodableBody("gzip stream is followed by extra bytes")
            return
    raise UndecodableBody(f"gzip stream has more than {MAX_MEMBERS} members")


def _inflate_chunks(data: bytes, size: int, wbits: int, name: str) -> Generator[bytes, None, None]:
    """One zlib or raw deflate stream, with nothing after it."""
    end = yield from inflate_member(memoryview(data), 0, size, wbits, name)
    if end != len(data):
        raise UndecodableBody(f"{name} stream is followed by extra bytes")


def inflate_member(
    view: memoryview, start: int, size: int, wbits: int, name: str
) -> Generator[bytes, None, int]:
    """Inflate the stream at `start`, at most `size` bytes at a time; return where it ends.

    Input goes in INPUT_STEP pieces: zlib copies the unconsumed input on every call, which
    over a whole large body would cost time quadratic in its size.
    """
    inflater = zlib.decompressobj(wbits)
    position = start
    while True:
        piece = view[position : position + INPUT_STEP]
        position += len(piece)
        pending: bytes | memoryview = piece
        while True:
            try:
                out = inflater.decompress(pending, size)
            except zlib.error as error:
                raise UndecodableBody(f"{name} stream is corrupt: {error}") from None
            if out:
                yield out
            if inflater.eof:
                return position - len(inflater.unused_data)
            pending = inflater.unconsumed_tail
            if not pending and len(out) < size:
                break  # this piece is used up
        if not piece:
            raise TruncatedStream(f"{name} stream is truncated")


def _zstd_chunks(data: bytes, size: int) -> Generator[bytes, None, None]:
    """zstd frames one after the other, then a check that the last frame was complete."""
    decoder = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    try:
        with decoder.stream_reader(data, read_across_frames=True) as reader:
            while chunk := reader.read(size):
                yield chunk
    except zstandard.ZstdError as error:
        raise _refusal("zstd", error) from None
    _check_zstd_frames(decoder, data)


def _check_zstd_frames(decoder: zstandard.ZstdDecompressor, data: bytes) -> None:
    """Raise TruncatedStream when a frame is cut short, which the stream reader hides.

    Only reached once the bounded pass has read all the output, so decoding the frames
    again here stays within the caller's limit. Each frame gets its input in doubling
    pieces, so that finding where it ends copies about as much as the frame itself.
    """
    if not data:
        raise TruncatedStream("zstd stream is empty")
    view, position = memoryview(data), 0
    for _ in range(MAX_MEMBERS):
        frame, step = decoder.decompressobj(), 512
        while not frame.eof:
            piece = view[position : position + step]
            if not piece:
                raise TruncatedStream("zstd stream is truncated")
            try:
                frame.decompress(piece)
            except zstandard.ZstdError as error:
                raise _refusal("zstd", error) from None
            position, step = position + len(piece), min(step * 2, INPUT_STEP)
        position -= len(frame.unused_data)
        if position == len(data):
            return
    raise UndecodableBody(f"zstd stream has more than {MAX_MEMBERS} frames")


_BZIP2_LEVELS = {bytes([digit]) for digit in b"123456789"}
# What follows "BZh<level>": a block's magic (pi) or the end of stream marker (sqrt(pi)).
_BZIP2_NEXT = {b"\x31\x41\x59\x26\x53\x59", b"\x17\x72\x45\x38\x50\x90"}


class _StdlibDecompressor(Protocol):
    """bz2.BZ2Decompressor and lzma.LZMADecompressor: `max_length` bounds each call's output."""

    @property
    def eof(self) -> bool: ...
    @property
    def needs_input(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


def _stdlib_chunks(data: bytes, size: int, make: Callable[[], _StdlibDecompressor],
                   name: str) -> Generator[bytes, None, None]:
    """bzip2 or xz streams one after the other (both tools concatenate them), each decoded
    in calls of at most `size` bytes of output."""
    pending = data
    for _ in range(MAX_MEMBERS):
        decoder = make()
        piece = pending
        while not decoder.eof:
            try:
                out = decoder.decompress(piece, size)
            except (OSError, EOFError, lzma.LZMAError, ValueError) as error:
                raise _refusal(name, error) from None
            piece = b""
            if out:
                yield out
            elif decoder.needs_input:
                raise TruncatedStream(f"{name} stream is truncated")
        pending = decoder.unused_data
        if not pending:
            return
    raise UndecodableBody(f"{name} stream has more than {MAX_MEMBERS} streams")


# What zstd and xz say when a stream asks for more memory than we allow it.
_MEMORY_REFUSALS = ("too much memory", "memory usage limit")


def _refusal(name: str, error: Exception) -> UndecodableBody | DecodeLimitExceeded:
    """The error for a stream the decoder refused: DecodeLimitExceeded when it asked for more
    memory than we allow (ZSTD_MAX_WINDOW, XZ_MEMLIMIT), which a lenient read must not take
    for damage and skip (a receiver without our limit reads it), else UndecodableBody."""
    if any(words in str(error).lower() for words in _MEMORY_REFUSALS):
        return DecodeLimitExceeded(f"{name} stream needs more memory than allowed")
    return UndecodableBody(f"{name} stream is corrupt: {error}")
