"""Brotli decompression in bounded steps, through the decoder's streaming C API.

The Brotli binding that mitmproxy 11 pins (<= 1.1.0) has no output cap: one call may turn
a few hundred bytes into gigabytes. Its C extension exports libbrotlidec's streaming API,
which fills an output buffer of the size we choose, so we call that through ctypes.
"""

from __future__ import annotations

import ctypes
import importlib.util
from collections.abc import Generator, Iterator
from functools import cache

from proxy.inspection.decode_errors import TruncatedStream, UndecodableBody

CHUNK = 64 * 1024  # output produced per decoder call, unless the caller asks for less

# BrotliDecoderResult (c/include/brotli/decode.h)
_ERROR, _SUCCESS, _NEEDS_MORE_INPUT, _NEEDS_MORE_OUTPUT = 0, 1, 2, 3


@cache
def _library() -> ctypes.CDLL | None:
    """The loaded Brotli extension as a C library, or None when it does not export the API."""
    spec = importlib.util.find_spec("_brotli")
    if spec is None or spec.origin is None:
        return None
    try:
        lib = ctypes.CDLL(spec.origin)
        create = lib.BrotliDecoderCreateInstance
        stream = lib.BrotliDecoderDecompressStream
        destroy = lib.BrotliDecoderDestroyInstance
        one_shot = lib.BrotliDecoderDecompress
    except (OSError, AttributeError):
        return None
    create.restype = ctypes.c_void_p
    create.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    destroy.restype = None
    destroy.argtypes = [ctypes.c_void_p]
    stream.restype = ctypes.c_int
    size_p, ptr_p = ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_void_p)
    stream.argtypes = [ctypes.c_void_p, size_p, ptr_p, size_p, ptr_p, ctypes.c_void_p]
    one_shot.restype = ctypes.c_int
    one_shot.argtypes = [ctypes.c_size_t, ctypes.c_char_p, size_p, ctypes.c_char_p]
    return lib


def available() -> bool:
    """Whether bounded Brotli decoding works in this build."""
    return _library() is not None


def brotli_chunks(data: bytes, size: int = CHUNK) -> Generator[bytes, None, None]:
    """Decompress `data` as one Brotli stream, at most `size` bytes per item.

    Raises UndecodableBody on corrupt data, trailing bytes or a missing decoder,
    TruncatedStream when the input ends early (after yielding what it held).
    """
    lib = _library()
    if lib is None:
        raise UndecodableBody("br cannot be decoded with a bound in this build")
    state = lib.BrotliDecoderCreateInstance(None, None, None)
    if not state:
        raise UndecodableBody("br decoder could not be created")
    try:
        yield from _run(lib, state, data, size)
    finally:
        lib.BrotliDecoderDestroyInstance(state)


def brotli_head(data: bytes, size: int) -> bytes | None:
    """The first `size` bytes of output at most, as one decoder call gives them (truncated or
    damaged input is fine once it produced something); None when it produced nothing and did
    not end cleanly, or there is no decoder.

    `BrotliDecoderDecompress` is one `BrotliDecoderDecompressStream` call into a buffer of our
    size (it reports what it wrote even when it fails): the same output as the first chunk of
    `brotli_chunks(data, size)`, in one ctypes call instead of four. This runs on every
    undecodable-looking run of base64 in a request.
    """
    lib = _library()
    if lib is None:
        return None
    buffer = ctypes.create_string_buffer(size)
    produced = ctypes.c_size_t(size)
    result = lib.BrotliDecoderDecompress(len(data), data, ctypes.byref(produced), buffer)
    if produced.value or result == _SUCCESS:
        return buffer.raw[: produced.value]
    return None


def _run(lib: ctypes.CDLL, state: int, data: bytes, size: int) -> Iterator[bytes]:
    """Drive one decoder over `data`; `source` keeps the input alive while C reads it."""
    # A copy in a ctypes buffer: its address is cheap to take (ctypes.cast is not, and this
    # runs on every short run of base64 that might be Brotli).
    source = ctypes.create_string_buffer(data, len(data))
    available_in = ctypes.c_size_t(len(data))
    next_in = ctypes.c_void_p(ctypes.addressof(source))
    buffer = ctypes.create_string_buffer(size)
    while True:
        available_out = ctypes.c_size_t(size)
        next_out = ctypes.c_void_p(ctypes.addressof(buffer))
        result = lib.BrotliDecoderDecompressStream(
            state,
            ctypes.byref(available_in),
            ctypes.byref(next_in),
            ctypes.byref(available_out),
            ctypes.byref(next_out),
            None,
        )
        produced = size - available_out.value
        if produced:
            yield buffer.raw[:produced]
        if result == _SUCCESS:
            if available_in.value:
                raise UndecodableBody("br stream is followed by extra bytes")
            return
        if result == _NEEDS_MORE_INPUT:
            raise TruncatedStream("br stream is truncated")
        if result != _NEEDS_MORE_OUTPUT:
            raise UndecodableBody("br stream is corrupt")
