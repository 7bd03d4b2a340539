"""Chunk decompression for the three xorb compression schemes (None, LZ4 frame, byte-grouping-4 + LZ4)."""

from __future__ import annotations

from enum import IntEnum

import lz4.frame

from modelyard.xet.errors import XetFormatError


class CompressionScheme(IntEnum):
    NONE = 0
    LZ4 = 1
    BG4_LZ4 = 2


def bg4_regroup(grouped: bytes) -> bytes:
    """Undo byte grouping: the input is 4 concatenated groups holding bytes 0,4,8.. / 1,5,9.. / 2,6,.. / 3,7,..

    With ``n % 4 == r``, the first ``r`` groups hold one extra byte.
    """
    n = len(grouped)
    base, rem = divmod(n, 4)
    out = bytearray(n)
    pos = 0
    for i in range(4):
        size = base + (1 if i < rem else 0)
        out[i::4] = grouped[pos : pos + size]
        pos += size
    return bytes(out)


def bg4_group(data: bytes) -> bytes:
    """Byte grouping (used by tests to build BG4 chunks)."""
    return b"".join(data[i::4] for i in range(4))


def decompress_chunk(scheme: int, payload: bytes | memoryview, uncompressed_len: int) -> bytes:
    """Decompress one chunk payload and check its length against the header."""
    out = chunk_data(scheme, payload, uncompressed_len)
    return out if isinstance(out, bytes) else bytes(out)


def chunk_data(scheme: int, payload: bytes | memoryview, uncompressed_len: int) -> bytes | memoryview:
    """:func:`decompress_chunk` without copying an uncompressed payload: it comes back as the view it was given
    (valid only as long as the caller's buffer is). For hashing chunks as they arrive or are read back."""
    try:
        kind = CompressionScheme(scheme)
    except ValueError:
        raise XetFormatError(f"unknown chunk compression scheme {scheme}") from None
    out: bytes | memoryview
    try:
        if kind is CompressionScheme.NONE:
            out = payload
        elif kind is CompressionScheme.LZ4:
            out = lz4.frame.decompress(payload)
        else:
            out = bg4_regroup(lz4.frame.decompress(payload))
    except RuntimeError as e:  # lz4 raises RuntimeError on corrupt frames
        raise XetFormatError(f"corrupt LZ4 chunk payload: {e}") from None
    if len(out) != uncompressed_len:
        raise XetFormatError(f"chunk decompressed to {len(out)} bytes, header says {uncompressed_len}")
    return out


def compress_chunk(scheme: CompressionScheme, data: bytes) -> bytes:
    """Compress one chunk (used by tests and tools that build xorbs)."""
    if scheme is CompressionScheme.NONE:
        return data
    if scheme is CompressionScheme.LZ4:
        return bytes(lz4.frame.compress(data))
    return bytes(lz4.frame.compress(bg4_group(data)))
