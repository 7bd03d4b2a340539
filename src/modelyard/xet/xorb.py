"""Xorb parsing and validation, and the compact per-chunk metadata we keep in the index.

A xorb as uploaded by ``hf_xet`` is a plain sequence of chunks, each an 8-byte header followed by the
(possibly compressed) payload. The ``XorbObjectInfo`` footer (starting with ``XETBLOB``) is *not* sent
by current clients; when present it is ignored and stripped, since we recompute everything from the
chunks. The xorb hash is the aggregated Merkle hash over ``(chunk_hash, uncompressed_len)``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from modelyard.xet.compression import CompressionScheme, chunk_data, compress_chunk, decompress_chunk
from modelyard.xet.errors import XetFormatError
from modelyard.xet.hashes import chunk_hash, hash_to_hex, xorb_hash

CHUNK_HEADER_LEN = 8
MAX_CHUNK_SIZE = 128 * 1024
MAX_XORB_BYTES = 64 * 1024 * 1024
#: Serialized-size cap we accept (64 MiB of chunk data plus headers and an optional footer).
MAX_XORB_UPLOAD = MAX_XORB_BYTES + 8 * 1024 * 1024
FOOTER_IDENT = b"XETBLOB"

_META = struct.Struct("<32sII")  # chunk hash, byte_end (serialized), unpacked_end
#: A chunk header as two words: ``version | compressed_len << 8`` and ``scheme | uncompressed_len << 8``.
HEADER_WORDS = struct.Struct("<II")


@dataclass(frozen=True)
class ChunkHeader:
    version: int
    compressed_len: int
    scheme: int
    uncompressed_len: int

    @classmethod
    def parse(cls, buf: bytes | memoryview, pos: int = 0) -> ChunkHeader:
        b = bytes(buf[pos : pos + CHUNK_HEADER_LEN])
        if len(b) < CHUNK_HEADER_LEN:
            raise XetFormatError("truncated chunk header")
        hdr = cls(
            version=b[0],
            compressed_len=int.from_bytes(b[1:4], "little"),
            scheme=b[4],
            uncompressed_len=int.from_bytes(b[5:8], "little"),
        )
        if hdr.version != 0:
            raise XetFormatError(f"unsupported chunk header version {hdr.version}")
        if hdr.uncompressed_len > MAX_CHUNK_SIZE or hdr.uncompressed_len == 0:
            raise XetFormatError(f"invalid chunk size {hdr.uncompressed_len}")
        if hdr.compressed_len > 2 * MAX_CHUNK_SIZE:
            raise XetFormatError(f"invalid compressed chunk size {hdr.compressed_len}")
        return hdr

    def serialize(self) -> bytes:
        return (
            bytes([self.version])
            + self.compressed_len.to_bytes(3, "little")
            + bytes([self.scheme])
            + self.uncompressed_len.to_bytes(3, "little")
        )


@dataclass(frozen=True)
class XorbMeta:
    """What the index keeps about a xorb: per chunk its hash, serialized end offset and unpacked end offset."""

    hash: bytes
    chunk_hashes: tuple[bytes, ...]
    byte_ends: tuple[int, ...]  # end offset of chunk i in the stored (footer-less) xorb
    unpacked_ends: tuple[int, ...]  # cumulative uncompressed size after chunk i

    @property
    def hex(self) -> str:
        return hash_to_hex(self.hash)

    @property
    def num_chunks(self) -> int:
        return len(self.chunk_hashes)

    @property
    def stored_size(self) -> int:
        return self.byte_ends[-1] if self.byte_ends else 0

    @property
    def unpacked_size(self) -> int:
        return self.unpacked_ends[-1] if self.unpacked_ends else 0

    def byte_start(self, idx: int) -> int:
        return self.byte_ends[idx - 1] if idx > 0 else 0

    def unpacked_start(self, idx: int) -> int:
        return self.unpacked_ends[idx - 1] if idx > 0 else 0

    def chunk_len(self, idx: int) -> int:
        return self.unpacked_ends[idx] - self.unpacked_start(idx)

    def range_unpacked_len(self, start: int, end: int) -> int:
        return self.unpacked_start(end) - self.unpacked_start(start) if end > start else 0

    def pack(self) -> bytes:
        return b"".join(
            _META.pack(h, be, ue)
            for h, be, ue in zip(self.chunk_hashes, self.byte_ends, self.unpacked_ends, strict=True)
        )

    @classmethod
    def unpack(cls, xorb_hash_raw: bytes, packed: bytes) -> XorbMeta:
        if len(packed) % _META.size:
            raise XetFormatError("corrupt packed xorb metadata")
        rows = list(_META.iter_unpack(packed))
        return cls(
            hash=xorb_hash_raw,
            chunk_hashes=tuple(r[0] for r in rows),
            byte_ends=tuple(r[1] for r in rows),
            unpacked_ends=tuple(r[2] for r in rows),
        )


@dataclass(frozen=True)
class ParsedXorb:
    meta: XorbMeta
    chunk_section: memoryview  # the bytes we store (footer stripped)


class XorbStream:
    """Incremental :func:`parse_xorb`: ``feed`` the body as it arrives, ``finish`` when it ended.

    Each complete chunk is decompressed and hashed as soon as its bytes are in (an uncompressed one straight from
    the buffer it arrived in); the body goes on to ``sink`` as it came, one piece per ``feed`` (only the 7 bytes that
    may start a footer wait for the next one): the stored bytes go to disk while the upload is still arriving,
    without being copied, and memory stays at one partial chunk plus whatever ``feed`` was given, whatever the
    xorb's size. ``sink`` receives bytes that are not verified yet (the xorb hash is known only at the end): write
    them somewhere that ``finish`` failing discards. Raises :class:`XetFormatError` as soon as the body is malformed.
    """

    def __init__(
        self,
        expected_hash: bytes | None = None,
        sink: Callable[[memoryview], None] | None = None,
        limit: int = MAX_XORB_UPLOAD,
    ) -> None:
        self._expected = expected_hash
        self._sink = sink
        self._limit = limit
        self._rest = bytearray()  # the start of a chunk whose bytes have not all arrived (copied: <= 264 KiB)
        self._need = 0  # the serialized size of the chunk in _rest (0: none)
        self._held = b""  # < 8 bytes at a chunk boundary: a chunk header or a footer, not sunk yet
        self._hashes: list[bytes] = []
        self._byte_ends: list[int] = []
        self._unpacked_ends: list[int] = []
        self._stored = 0  # chunk bytes consumed (the stored size so far)
        self._total = 0  # uncompressed bytes so far
        self._footer = False
        self.received = 0

    def _chunk(self, buf: memoryview, start: int, clen: int, scheme: int, ulen: int) -> None:
        """Verify and hash one complete chunk whose payload is ``buf[start:start + clen]``."""
        raw = chunk_data(scheme, buf[start : start + clen], ulen)
        self._hashes.append(chunk_hash(raw))
        self._total += ulen
        if self._total > MAX_XORB_BYTES:
            raise XetFormatError("xorb holds more than 64 MiB of data")
        self._stored += CHUNK_HEADER_LEN + clen
        self._byte_ends.append(self._stored)
        self._unpacked_ends.append(self._total)

    def _header(self, buf: memoryview, pos: int) -> tuple[int, int, int] | None:
        """``(compressed_len, scheme, uncompressed_len)`` of the header at ``pos``; None at a footer."""
        if buf[pos : pos + len(FOOTER_IDENT)] == FOOTER_IDENT:
            self._footer = True
            return None
        a, b = HEADER_WORDS.unpack_from(buf, pos)
        version, clen, scheme, ulen = a & 0xFF, a >> 8, b & 0xFF, b >> 8
        if version != 0 or not 0 < ulen <= MAX_CHUNK_SIZE or clen > 2 * MAX_CHUNK_SIZE:
            ChunkHeader.parse(buf, pos)  # raises the precise XetFormatError
        return clen, scheme, ulen

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        self.received += len(data)
        if self.received > self._limit:
            raise XetFormatError(f"xorb body exceeds the limit of {self._limit} bytes")
        if self._footer or not data:
            return  # XorbObjectInfo footer: ignored, recomputed from the chunks
        view = memoryview(data).cast("B")
        if self._held:  # rare: the last piece ended within 8 bytes of a chunk start; parse them with this one
            view = memoryview(self._held + view)
            self._held = b""
        n = len(view)
        pos = 0
        if self._need:  # complete the chunk begun in an earlier piece (its header was checked then)
            take = min(self._need - len(self._rest), n)
            self._rest += view[:take]
            pos = take
            if len(self._rest) < self._need:
                return self._sink_upto(view, n)
            rest = memoryview(self._rest)
            a, b = HEADER_WORDS.unpack_from(rest, 0)
            self._chunk(rest, CHUNK_HEADER_LEN, a >> 8, b & 0xFF, b >> 8)
            rest.release()
            self._rest = bytearray()
            self._need = 0
        while n - pos >= CHUNK_HEADER_LEN:
            hdr = self._header(view, pos)
            if hdr is None:
                return self._sink_upto(view, pos)
            clen, scheme, ulen = hdr
            start = pos + CHUNK_HEADER_LEN
            if start + clen > n:
                self._need = CHUNK_HEADER_LEN + clen
                self._rest = bytearray(view[pos:])
                return self._sink_upto(view, n)
            self._chunk(view, start, clen, scheme, ulen)
            pos = start + clen
        # fewer than 8 bytes of the next chunk (or of a footer) are in: hold them until it is known which
        self._sink_upto(view, pos)
        if pos < n:
            self._held = bytes(view[pos:])

    def _sink_upto(self, view: memoryview, end: int) -> None:
        if end and self._sink is not None:
            self._sink(view[:end] if end < len(view) else view)

    def finish(self) -> XorbMeta:
        """The verified metadata; XetFormatError when the body was cut short or hashes to another xorb."""
        if self._need or self._held:
            raise XetFormatError("truncated chunk payload" if self._need else "truncated chunk header")
        if not self._hashes:
            raise XetFormatError("xorb has no chunks")
        ends = self._unpacked_ends
        lens = [b - a for a, b in zip([0, *ends[:-1]], ends, strict=True)]
        computed = xorb_hash(zip(self._hashes, lens, strict=True))
        if self._expected is not None and computed != self._expected:
            raise XetFormatError(
                f"xorb hash mismatch: path says {hash_to_hex(self._expected)}, "
                f"content hashes to {hash_to_hex(computed)}"
            )
        return XorbMeta(computed, tuple(self._hashes), tuple(self._byte_ends), tuple(ends))


def parse_xorb(data: bytes, expected_hash: bytes | None = None) -> ParsedXorb:
    """Parse and fully validate a serialized xorb: every chunk is decompressed and hashed.

    Raises :class:`XetFormatError` on any inconsistency, including a hash that differs from ``expected_hash``.
    """
    if len(data) > MAX_XORB_UPLOAD:
        raise XetFormatError(f"xorb of {len(data)} bytes exceeds the limit")
    stream = XorbStream(expected_hash)
    stream.feed(data)
    meta = stream.finish()
    return ParsedXorb(meta, memoryview(data)[: meta.stored_size])


def iter_chunk_payloads(raw: bytes | memoryview) -> Iterator[bytes]:
    """Decompress a contiguous run of serialized chunks (a byte range of a stored xorb)."""
    view = memoryview(raw)
    pos = 0
    while pos < len(view):
        hdr = ChunkHeader.parse(view, pos)
        start = pos + CHUNK_HEADER_LEN
        end = start + hdr.compressed_len
        if end > len(view):
            raise XetFormatError("truncated chunk payload")
        yield decompress_chunk(hdr.scheme, view[start:end], hdr.uncompressed_len)
        pos = end


def build_xorb(chunks: list[bytes], scheme: CompressionScheme = CompressionScheme.LZ4) -> tuple[bytes, bytes]:
    """Serialize chunks into a footer-less xorb; returns ``(xorb_hash, bytes)``. Used by tests and tools."""
    out = bytearray()
    for c in chunks:
        payload = compress_chunk(scheme, c)
        used = scheme
        if len(payload) >= len(c):
            payload, used = c, CompressionScheme.NONE
        out += ChunkHeader(0, len(payload), int(used), len(c)).serialize()
        out += payload
    h = xorb_hash((chunk_hash(c), len(c)) for c in chunks)
    return h, bytes(out)
