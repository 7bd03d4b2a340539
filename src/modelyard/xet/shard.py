"""MDB shard format: parse the shards ``hf_xet`` uploads, build the shards global dedupe returns.

Layout (all integers little-endian, every record 48 bytes)::

    header   : tag[32] version:u64(=2) footer_size:u64
    files    : { FileDataSequenceHeader, entries*n, [verification*n], [metadata_ext] }* , bookend
    xorbs    : { XorbChunkSequenceHeader, chunk entries*n }* , bookend
    footer   : 200 bytes (omitted, footer_size=0, in uploads)
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import blake3

from modelyard.xet.errors import XetFormatError
from modelyard.xet.xorb import XorbMeta

SHARD_HEADER_TAG = bytes(
    b"HFRepoMetaData"
    + bytes([0, 85, 105, 103, 69, 106, 123, 129, 87, 131, 165, 189, 217, 92, 205, 209, 74, 169])
)
SHARD_HEADER_VERSION = 2
SHARD_FOOTER_VERSION = 1
FOOTER_SIZE = 200
RECORD = 48
BOOKEND_HASH = b"\xff" * 32

FILE_FLAG_WITH_VERIFICATION = 1 << 31
FILE_FLAG_WITH_METADATA_EXT = 1 << 30
CHUNK_FLAG_GLOBAL_DEDUP = 1 << 31
#: Refuse absurd shards before allocating anything for them.
MAX_SHARD_BYTES = 64 * 1024 * 1024

_HEADER = struct.Struct("<32sQQ")
_FILE_HEADER = struct.Struct("<32sII8x")
_FILE_ENTRY = struct.Struct("<32sIIII")
_HASH_EXT = struct.Struct("<32s16x")
_XORB_HEADER = struct.Struct("<32sIIII")
_CHUNK_ENTRY = struct.Struct("<32sIIII")
_FOOTER = struct.Struct("<QQQQQQQQQ32sQQ48xQQQQ")
assert _FOOTER.size == FOOTER_SIZE


@dataclass(frozen=True, slots=True)  # one per chunk of a shard: no __dict__
class FileTerm:
    xorb_hash: bytes
    unpacked_bytes: int
    chunk_start: int
    chunk_end: int  # exclusive


@dataclass
class ShardFile:
    file_hash: bytes
    terms: list[FileTerm]
    verification: list[bytes] | None = None
    sha256: bytes | None = None

    @property
    def size(self) -> int:
        return sum(t.unpacked_bytes for t in self.terms)


@dataclass(frozen=True, slots=True)  # one per chunk of a shard: no __dict__
class ShardChunk:
    hash: bytes
    unpacked_start: int
    unpacked_len: int
    flags: int


@dataclass
class ShardXorb:
    xorb_hash: bytes
    num_bytes_in_xorb: int
    num_bytes_on_disk: int
    entries: bytes | memoryview = b""  # the block's chunk records as sent, decoded on use by `chunks`

    @property
    def chunks(self) -> list[ShardChunk]:
        """The block's chunks, decoded afresh on each access: a 10 GiB file's shard holds ~160k of them, which as
        objects would cost ~30 MB for as long as the shard is being verified."""
        return [
            ShardChunk(bytes(ch), int(start), int(ln), int(cflags))
            for ch, start, ln, cflags, _unused in _CHUNK_ENTRY.iter_unpack(self.entries)
        ]


@dataclass
class Shard:
    files: list[ShardFile]
    xorbs: list[ShardXorb]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def take(self, s: struct.Struct) -> tuple[Any, ...]:
        if self.pos + s.size > len(self.data):
            raise XetFormatError("truncated shard")
        out = s.unpack_from(self.data, self.pos)
        self.pos += s.size
        return out

    def remaining_records(self) -> int:
        return (len(self.data) - self.pos) // RECORD


def parse_shard(data: bytes) -> Shard:
    """Parse a shard (with or without footer). Validates structure, not content (see the service)."""
    if len(data) > MAX_SHARD_BYTES:
        raise XetFormatError("shard too large")
    r = _Reader(data)
    tag, version, _footer_size = r.take(_HEADER)
    if tag != SHARD_HEADER_TAG:
        raise XetFormatError("not a shard: bad header tag")
    if version != SHARD_HEADER_VERSION:
        raise XetFormatError(f"unsupported shard version {version}")

    files: list[ShardFile] = []
    while True:
        fhash, flags, n = r.take(_FILE_HEADER)
        if fhash == BOOKEND_HASH:
            break
        extra = (n if flags & FILE_FLAG_WITH_VERIFICATION else 0) + (
            1 if flags & FILE_FLAG_WITH_METADATA_EXT else 0
        )
        if n + extra > r.remaining_records():
            raise XetFormatError("file entry count exceeds shard size")
        terms = []
        for _ in range(n):
            xh, _xflags, unpacked, start, end = r.take(_FILE_ENTRY)
            terms.append(FileTerm(xh, int(unpacked), int(start), int(end)))
        f = ShardFile(fhash, terms)
        if flags & FILE_FLAG_WITH_VERIFICATION:
            f.verification = [bytes(r.take(_HASH_EXT)[0]) for _ in range(n)]
        if flags & FILE_FLAG_WITH_METADATA_EXT:
            f.sha256 = bytes(r.take(_HASH_EXT)[0])
        files.append(f)

    xorbs: list[ShardXorb] = []
    while True:
        xh, _xflags, n, in_xorb, on_disk = r.take(_XORB_HEADER)
        if xh == BOOKEND_HASH:
            break
        if n > r.remaining_records():
            raise XetFormatError("xorb entry count exceeds shard size")
        end = r.pos + n * _CHUNK_ENTRY.size
        if end > len(r.data):
            raise XetFormatError("truncated shard")
        xorbs.append(ShardXorb(xh, int(in_xorb), int(on_disk), r.data[r.pos : end]))
        r.pos = end
    return Shard(files, xorbs)


def keyed_chunk_hash(key: bytes, raw: bytes) -> bytes:
    """``DataHash::hmac`` of xet-core: ``blake3.keyed_hash(key, raw chunk hash bytes)``."""
    return blake3.blake3(raw, key=key).digest()


def build_dedup_shard(
    xorbs: Sequence[tuple[XorbMeta, int]], key: bytes, valid_for_s: int = 24 * 3600
) -> bytes:
    """A global-dedupe answer: a shard with no files and the CAS info of ``xorbs`` (``(meta, stored_size)``).

    Every chunk hash is keyed with ``key`` (32 non-zero bytes, footer field ``chunk_hash_hmac_key``), as xet-core's
    ``export_as_keyed_shard`` does; the footer's ``shard_key_expiry`` is ``now + valid_for_s``. The client indexes
    the xorb section directly, so no lookup tables are written (their counts are zero), like xet-core's reference
    server. Chunk flags are left zero: they would tell one bit of each raw hash.
    """
    if len(key) != 32 or key == bytes(32):
        raise ValueError("a dedupe answer needs a non-zero 32-byte key")
    out = bytearray(_HEADER.pack(SHARD_HEADER_TAG, SHARD_HEADER_VERSION, FOOTER_SIZE))
    file_info_offset = len(out)
    out += _FILE_HEADER.pack(BOOKEND_HASH, 0, 0)
    xorb_info_offset = len(out)
    stored_on_disk = stored = 0
    for meta, on_disk in xorbs:
        out += _XORB_HEADER.pack(meta.hash, 0, meta.num_chunks, meta.unpacked_size, on_disk)
        for i, h in enumerate(meta.chunk_hashes):
            out += _CHUNK_ENTRY.pack(
                keyed_chunk_hash(key, h), meta.unpacked_start(i), meta.chunk_len(i), 0, 0
            )
        stored_on_disk += on_disk
        stored += meta.unpacked_size
    out += _XORB_HEADER.pack(BOOKEND_HASH, 0, 0, 0, 0)
    footer_offset = len(out)
    now = int(time.time())
    out += _FOOTER.pack(
        SHARD_FOOTER_VERSION,
        file_info_offset,
        xorb_info_offset,
        footer_offset, 0,  # file lookup
        footer_offset, 0,  # xorb lookup
        footer_offset, 0,  # chunk lookup
        key,  # chunk_hash_hmac_key
        now,
        now + valid_for_s,
        stored_on_disk,
        0,  # materialized bytes
        stored,
        footer_offset,
    )  # fmt: skip
    return bytes(out)


def build_upload_shard(files: Sequence[ShardFile], xorbs: Sequence[XorbMeta]) -> bytes:
    """Serialize an upload shard (no footer), as a client would. Used by tests and tools."""
    out = bytearray(_HEADER.pack(SHARD_HEADER_TAG, SHARD_HEADER_VERSION, 0))
    for f in files:
        flags = (FILE_FLAG_WITH_VERIFICATION if f.verification is not None else 0) | (
            FILE_FLAG_WITH_METADATA_EXT if f.sha256 is not None else 0
        )
        out += _FILE_HEADER.pack(f.file_hash, flags, len(f.terms))
        for t in f.terms:
            out += _FILE_ENTRY.pack(t.xorb_hash, 0, t.unpacked_bytes, t.chunk_start, t.chunk_end)
        for v in f.verification or []:
            out += _HASH_EXT.pack(v)
        if f.sha256 is not None:
            out += _HASH_EXT.pack(f.sha256)
    out += _FILE_HEADER.pack(BOOKEND_HASH, 0, 0)
    for m in xorbs:
        out += _XORB_HEADER.pack(m.hash, 0, m.num_chunks, m.unpacked_size, m.stored_size)
        for i, h in enumerate(m.chunk_hashes):
            out += _CHUNK_ENTRY.pack(h, m.unpacked_start(i), m.chunk_len(i), 0, 0)
    out += _XORB_HEADER.pack(BOOKEND_HASH, 0, 0, 0, 0)
    return bytes(out)
