"""File reconstruction: which chunk ranges of which xorbs make up a byte range of a file.

Used twice: to answer ``GET /v1/reconstructions/{file_id}`` (the client then fetches the xorb byte ranges
itself) and to stream a file's bytes server-side (plain HTTP ``resolve``, sha256 verification).
Mirrors xet-core ``simulation/xorb_utils.rs::compute_reconstruction_ranges``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from modelyard.xet.compression import chunk_data
from modelyard.xet.errors import XetFormatError, XetRangeError
from modelyard.xet.hashes import hash_to_hex
from modelyard.xet.index import FileRecord
from modelyard.xet.shard import FileTerm
from modelyard.xet.xorb import CHUNK_HEADER_LEN, HEADER_WORDS, XorbMeta, iter_chunk_payloads

#: Read stored xorbs in slices of at most this many serialized bytes when streaming (at least one chunk). A
#: download holds one slice while its client drains it, so this bounds the memory of each slow reader.
READ_SLICE = 64 * 1024
#: The server's own passes over a whole term (the sha256 of a new file) read in slices of this many bytes into one
#: reused buffer: one syscall per ~16 chunks instead of per chunk, no allocation per read (4 MiB: no faster).
SCAN_SLICE = 1024 * 1024


@dataclass(frozen=True)
class PlanTerm:
    xorb_hash: bytes
    chunk_start: int
    chunk_end: int
    unpacked_length: int


@dataclass(frozen=True)
class FetchRange:
    chunk_start: int
    chunk_end: int
    byte_start: int
    byte_end: int  # exclusive


@dataclass(frozen=True)
class Plan:
    offset_into_first_range: int
    terms: list[PlanTerm]
    fetch: dict[bytes, list[FetchRange]]  # merged, sorted ranges per xorb


def plan_reconstruction(
    file: FileRecord, metas: Callable[[bytes], XorbMeta], start: int = 0, end: int | None = None
) -> Plan:
    """Terms covering ``[start, end)`` of ``file``; ``end`` defaults to the file size (clamped)."""
    size = file.size
    end = size if end is None else min(end, size)
    if size == 0 or (start == 0 and end == 0):
        return Plan(0, [], {})
    if start >= size:
        raise XetRangeError(f"range start {start} is past the end of the file ({size} bytes)")
    terms: list[PlanTerm] = []
    pieces: dict[bytes, list[FetchRange]] = {}
    cum = 0
    first_start: int | None = None
    for t in file.terms:
        if cum >= end:
            break
        if cum + t.unpacked_bytes <= start:
            cum += t.unpacked_bytes
            continue
        meta = metas(t.xorb_hash)
        cs, ce, n = t.chunk_start, t.chunk_end, t.unpacked_bytes
        while cum < start and cum + meta.chunk_len(cs) <= start:
            cum += meta.chunk_len(cs)
            n -= meta.chunk_len(cs)
            cs += 1
        while ce - cs > 1 and cum + n - meta.chunk_len(ce - 1) >= end:
            n -= meta.chunk_len(ce - 1)
            ce -= 1
        if first_start is None:
            first_start = cum
        terms.append(PlanTerm(t.xorb_hash, cs, ce, n))
        pieces.setdefault(t.xorb_hash, []).append(
            FetchRange(cs, ce, meta.byte_start(cs), meta.byte_ends[ce - 1])
        )
        cum += n
    return Plan(start - (first_start or 0), terms, {h: _merge(r) for h, r in pieces.items()})


def _merge(ranges: list[FetchRange]) -> list[FetchRange]:
    ranges = sorted(ranges, key=lambda r: r.chunk_start)
    out: list[FetchRange] = []
    for r in ranges:
        if out and r.chunk_start <= out[-1].chunk_end:
            last = out[-1]
            out[-1] = FetchRange(
                last.chunk_start,
                max(last.chunk_end, r.chunk_end),
                last.byte_start,
                max(last.byte_end, r.byte_end),
            )
        else:
            out.append(r)
    return out


def _terms_json(plan: Plan) -> list[dict[str, object]]:
    """The ``terms`` list shared by the v1 and v2 reconstruction answers."""
    return [
        {
            "hash": hash_to_hex(t.xorb_hash),
            "unpacked_length": t.unpacked_length,
            "range": {"start": t.chunk_start, "end": t.chunk_end},
        }
        for t in plan.terms
    ]


def plan_to_v1_json(plan: Plan, url_for: Callable[[bytes, int, int], str]) -> dict[str, object]:
    """``QueryReconstructionResponse`` (v1): terms plus per-xorb fetch info (``url_range`` end inclusive).

    ``url_for(xorb_hash, first_byte, last_byte)`` gives a fetch URL valid for exactly that byte window.
    """
    return {
        "offset_into_first_range": plan.offset_into_first_range,
        "terms": _terms_json(plan),
        "fetch_info": {
            hash_to_hex(h): [
                {
                    "range": {"start": r.chunk_start, "end": r.chunk_end},
                    "url": url_for(h, r.byte_start, r.byte_end - 1),
                    "url_range": {"start": r.byte_start, "end": r.byte_end - 1},
                }
                for r in ranges
            ]
            for h, ranges in plan.fetch.items()
        },
    }


def plan_to_v2_json(plan: Plan, url_for: Callable[[bytes, int, int], str]) -> dict[str, object]:
    """``QueryReconstructionResponseV2``: the v1 terms, and per xorb a list of ``{url, ranges: [{chunks, bytes}]}``
    (chunks end-exclusive, bytes inclusive). Each merged range gets its own URL, signed for exactly its bytes: one
    URL spanning several ranges would also open the bytes between them, which can belong to other files."""
    return {
        "offset_into_first_range": plan.offset_into_first_range,
        "terms": _terms_json(plan),
        "xorbs": {
            hash_to_hex(h): [
                {
                    "url": url_for(h, r.byte_start, r.byte_end - 1),
                    "ranges": [
                        {
                            "chunks": {"start": r.chunk_start, "end": r.chunk_end},
                            "bytes": {"start": r.byte_start, "end": r.byte_end - 1},
                        }
                    ],
                }
                for r in ranges
            ]
            for h, ranges in plan.fetch.items()
        },
    }


def iter_file_bytes(
    plan: Plan,
    metas: Callable[[bytes], XorbMeta],
    open_xorb: Callable[[bytes], BinaryIO],
    length: int,
) -> Iterator[bytes]:
    """Decompress the planned terms and yield exactly ``length`` bytes starting at the planned offset."""
    skip = plan.offset_into_first_range
    remaining = length
    handles: dict[bytes, BinaryIO] = {}
    try:
        for t in plan.terms:
            if remaining <= 0:
                break
            meta = metas(t.xorb_hash)
            f = handles.get(t.xorb_hash)
            if f is None:
                f = handles[t.xorb_hash] = open_xorb(t.xorb_hash)
            for piece in _iter_term(meta, f, t):
                if skip:
                    if skip >= len(piece):
                        skip -= len(piece)
                        continue
                    piece = piece[skip:]
                    skip = 0
                if len(piece) > remaining:
                    piece = piece[:remaining]
                remaining -= len(piece)
                yield piece
                if remaining <= 0:
                    break
    finally:
        for f in handles.values():
            f.close()


def _iter_term(meta: XorbMeta, f: BinaryIO, t: PlanTerm | FileTerm) -> Iterator[bytes]:
    cs = t.chunk_start
    while cs < t.chunk_end:
        ce = cs + 1
        while ce < t.chunk_end and meta.byte_ends[ce] - meta.byte_start(cs) <= READ_SLICE:
            ce += 1
        lo, hi = meta.byte_start(cs), meta.byte_ends[ce - 1]
        f.seek(lo)
        raw = f.read(hi - lo)
        if len(raw) != hi - lo:
            raise OSError(f"stored xorb {meta.hex} is truncated")
        pieces = deque(iter_chunk_payloads(raw))
        del raw  # a suspended download holds only the chunks it has not handed out yet
        while pieces:
            yield pieces.popleft()
        cs = ce


def iter_chunk_data(
    meta: XorbMeta, f: BinaryIO, chunk_start: int, chunk_end: int, buf: bytearray
) -> Iterator[bytes | memoryview]:
    """The decompressed chunks ``[chunk_start, chunk_end)`` of a stored xorb, in order, read in chunk-aligned slices
    of up to ``len(buf)`` bytes into ``buf``: an uncompressed chunk comes back as a view of ``buf``, valid until
    the next item is asked for (hash it, do not keep it)."""
    readinto = getattr(f, "readinto", None)
    cs = chunk_start
    while cs < chunk_end:
        lo = meta.byte_start(cs)
        ce = max(cs + 1, bisect_right(meta.byte_ends, lo + len(buf), cs, chunk_end))
        n = meta.byte_ends[ce - 1] - lo
        if n > len(buf):  # one chunk larger than the buffer
            buf = bytearray(n)
        view = memoryview(buf)[:n]
        f.seek(lo)
        got = 0
        while got < n:
            if readinto is not None:
                k = readinto(view[got:])
            else:
                data = f.read(n - got)
                k = len(data)
                view[got : got + k] = data
            if not k:
                raise OSError(f"stored xorb {meta.hex} is truncated")
            got += k
        pos = 0
        while pos < n:
            if n - pos < CHUNK_HEADER_LEN:
                raise XetFormatError(f"stored xorb {meta.hex} has a cut chunk header")
            a, b = HEADER_WORDS.unpack_from(view, pos)
            start = pos + CHUNK_HEADER_LEN
            pos = start + (a >> 8)
            if pos > n:
                raise XetFormatError(f"stored xorb {meta.hex} does not match its chunk offsets")
            yield chunk_data(b & 0xFF, view[start:pos], b >> 8)
        cs = ce
